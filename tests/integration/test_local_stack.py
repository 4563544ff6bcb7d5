"""The stack built from a template (dockhand_local.stack): what it resolves, what it refuses, what it registers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from dockhand_local.stack import ROOT, TemplateError, create_stack

REGION = "us-east-1"


def _template(tmp_path: Path, variables: str, conditions: str = "") -> Path:
    """A one-function template whose environment is `variables` (YAML, indented for the Variables map)."""
    path = tmp_path / "template.yaml"
    path.write_text(
        f"""
Transform: AWS::Serverless-2016-10-31
Mappings:
  Names: {{us-east-1: {{Short: use1}}}}
{conditions}
Resources:
  WorkQueue: {{Type: AWS::SQS::Queue}}
  WorkFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {ROOT / "functions" / "watcher"}
      Handler: app.lambda_handler
      Environment:
        Variables:
{variables}
Outputs:
  WorkQueueUrl: {{Value: !Ref WorkQueue}}
""",
        encoding="utf-8",
    )
    return path


def test_select_and_split_resolve_as_cloudformation_does(moto_aws: None, tmp_path: Path) -> None:
    # Given a variable made with !Select over !Split
    path = _template(tmp_path, '          SECOND: !Select [1, !Split [",", "a,b,c"]]')
    # When the stack is built
    stack = create_stack(boto3.Session(), region=REGION, template_path=path)
    # Then the function sees the selected part
    assert stack.env_for("WorkFunction")["SECOND"] == "b"


def test_an_unsupported_intrinsic_is_refused_naming_its_place(moto_aws: None, tmp_path: Path) -> None:
    # Given a variable made with !FindInMap, which the local stack does not resolve
    path = _template(tmp_path, "          SHORT: !FindInMap [Names, !Ref AWS::Region, Short]")
    # When the stack is built / Then it fails naming the file, the field and the function
    with pytest.raises(TemplateError) as caught:
        create_stack(boto3.Session(), region=REGION, template_path=path)
    message = str(caught.value)
    assert "template.yaml: Resources.WorkFunction.Properties.Environment.Variables.SHORT" in message
    assert "Fn::FindInMap is not supported" in message


def test_an_unsupported_condition_function_is_refused(moto_aws: None, tmp_path: Path) -> None:
    # Given a condition that uses a function conditions cannot use
    conditions = 'Conditions:\n  Odd: !Equals [!Select [0, ["x"]], "x"]'
    path = _template(tmp_path, "          PLAIN: plain", conditions)
    # When the stack is built / Then the condition is named
    with pytest.raises(TemplateError, match=r"Conditions\.Odd: Fn::Select is not supported in a condition"):
        create_stack(boto3.Session(), region=REGION, template_path=path)


def test_the_stack_is_registered_with_its_outputs(moto_aws: None, tmp_path: Path) -> None:
    # Given a template with an output
    path = _template(tmp_path, "          PLAIN: plain")
    # When the stack is built under a name, with one extra output
    stack = create_stack(
        boto3.Session(), region=REGION, template_path=path, name="work", extra_outputs={"Extra": "value"}
    )
    # Then CloudFormation describes a stack of that name whose outputs are the resolved ones
    described: Any = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName="work")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0]["Outputs"]}
    assert outputs == {"WorkQueueUrl": stack.queue_url("WorkQueue"), "Extra": "value"}
