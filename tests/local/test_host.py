"""The function host: each template function runs with its own copy of the layer's modules and of Powertools."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import boto3

from dockhand_local.host import FunctionHost
from dockhand_local.stack import FunctionSpec

HANDLER = """
from aws_lambda_powertools.utilities import parameters


def lambda_handler(event, context):
    return parameters.get_secret(event["secret"], max_age=300)
"""


def _function(tmp_path: Path, name: str) -> FunctionSpec:
    code = tmp_path / name
    code.mkdir()
    (code / "app.py").write_text(HANDLER, encoding="utf-8")
    return FunctionSpec(logical_id=name, code_dir=code, handler="app.lambda_handler", environment={})


def test_each_function_keeps_its_own_parameters_cache(moto_aws: None, tmp_path: Path) -> None:
    # Given a secret, and two functions that read it through Powertools Parameters (cached for 5 minutes)
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    secrets.create_secret(Name="shared", SecretString="first")
    first, second = _function(tmp_path, "First"), _function(tmp_path, "Second")
    host = FunctionHost()
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}

    def invoke(fn: FunctionSpec) -> str:
        env["AWS_LAMBDA_FUNCTION_NAME"] = fn.logical_id
        return str(host.invoke(fn, {"secret": "shared"}, env, f"arn:aws:lambda:::function:{fn.logical_id}"))

    outside = sys.modules.get("aws_lambda_powertools.utilities.parameters")

    # When the first function reads it, the secret changes, then both read it
    assert invoke(first) == "first"
    secrets.put_secret_value(SecretId="shared", SecretString="second")

    # Then the first function still has its cached value and the second, a process of its own, reads the new one
    assert invoke(first) == "first"
    assert invoke(second) == "second"
    # And the process's own Powertools modules are the ones it had before
    assert sys.modules.get("aws_lambda_powertools.utilities.parameters") is outside
