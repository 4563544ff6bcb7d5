"""The example files of docs/getting-started.md, filled in by the guide's own `fill`, are what AWS accepts: each task
definition registers (botocore checks its shape, moto stores it), the launch template and roles are made, and the
declarations pass Dockhand's models and name what the task definitions define."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from dockhand.config import load_config
from dockhand_cli.main import app
from dockhand_local.stack import ROOT
from tests.support.walkthrough import GUIDE, bash_blocks

EXAMPLES = ROOT / "examples"
TASK_DEFINITIONS = sorted(EXAMPLES.glob("*/taskdef*.json"))
VALUES = {
    "ACCOUNT_ID": "123456789012",
    "AWS_DEFAULT_REGION": "us-east-1",
    "SUBNET_IDS": "subnet-0aaaaaaaaaaaaaaa1,subnet-0bbbbbbbbbbbbbbb2",
    "SECURITY_GROUP_ID": "sg-0ccccccccccccccc3",
    "AMI_ID": "ami-0ddddddddddddddd4",
    "USER_DATA": base64.b64encode((EXAMPLES / "ec2" / "user-data.sh").read_bytes()).decode(),
}


def fill(path: Path, **values: str) -> str:
    """The example file as the guide's `fill` prints it (the function is taken from the guide and run in bash)."""
    setup = next(b.text for b in bash_blocks(GUIDE) if "fill() {" in b.text)
    function = re.search(r"^fill\(\) \{\n.*?^\}$", setup, flags=re.S | re.M)
    assert function, "the guide defines fill() in a block"
    out = subprocess.run(
        ["bash", "-c", f'{function[0]}\nfill "$0"', str(path)],
        env={**VALUES, **values, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert not re.findall(r"<[A-Z_]+>", out.stdout), f"{path.name}: a placeholder fill does not replace"
    return out.stdout


@pytest.mark.parametrize("path", TASK_DEFINITIONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_each_task_definition_registers_with_its_logs_health_check_and_platform(moto_aws: None, path: Path) -> None:
    # Given an example task definition with the reader's account and Region in place
    wanted = json.loads(fill(path))

    # When it is registered (botocore refuses a field or a type RegisterTaskDefinition does not take)
    ecs = boto3.client("ecs", region_name="us-east-1")
    registered = ecs.register_task_definition(**wanted)["taskDefinition"]

    # Then it is revision 1 of its family, on ARM64 Linux, its image from the reader's registry
    assert registered["revision"] == 1 and registered["runtimePlatform"] == wanted["runtimePlatform"]
    (container,) = registered["containerDefinitions"]
    repository = {"taskdef-fargate.json": "hello-web", "taskdef-ec2.json": "hello-web", "taskdef.json": "hello-batch"}
    assert container["image"] == f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{repository[path.name]}:1.0.0"
    # And its container logs to its CloudWatch log group in the reader's Region
    options = container["logConfiguration"]["options"]
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert options["awslogs-group"] == f"/ecs/{repository[path.name]}" and options["awslogs-region"] == "us-east-1"
    assert registered["executionRoleArn"] == "arn:aws:iam::123456789012:role/hello-task-execution"
    # And a service's container has the health check the server answers
    if repository[path.name] == "hello-web":
        assert container["healthCheck"]["command"] == ["CMD", "python3", "/app/server.py", "--check"]


def test_the_fargate_and_ec2_variants_run_the_same_container_differently() -> None:
    # Given the web service's two task definitions
    fargate, ec2 = (json.loads(fill(EXAMPLES / "web" / name)) for name in ("taskdef-fargate.json", "taskdef-ec2.json"))

    # Then only how they run differs: Fargate with awsvpc and task-level size, EC2 with bridge and dynamic ports
    assert (fargate["requiresCompatibilities"], fargate["networkMode"]) == (["FARGATE"], "awsvpc")
    assert (ec2["requiresCompatibilities"], ec2["networkMode"]) == (["EC2"], "bridge")
    assert ec2["containerDefinitions"][0]["portMappings"] == [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}]

    def same(container: dict[str, Any]) -> dict[str, Any]:
        kept = ("name", "image", "essential", "healthCheck", "readonlyRootFilesystem")
        return {k: container[k] for k in kept}

    assert same(fargate["containerDefinitions"][0]) == same(ec2["containerDefinitions"][0])


def test_the_roles_and_the_launch_template_are_made_as_the_guide_makes_them(moto_aws: None) -> None:
    # Given the trust policies and the launch template, filled in
    iam = boto3.client("iam", region_name="us-east-1")
    ec2 = boto3.client("ec2", region_name="us-east-1")
    trusts = {
        "ecs-tasks.amazonaws.com": EXAMPLES / "ecs-tasks-trust.json",
        "ec2.amazonaws.com": EXAMPLES / "ec2" / "instance-trust.json",
    }

    # When the roles and the launch template are created
    for service, path in trusts.items():
        role = iam.create_role(RoleName=service.split(".")[0], AssumeRolePolicyDocument=path.read_text())["Role"]
        # Then each role may be taken by its service alone
        (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": service} and statement["Action"] == "sts:AssumeRole"
    data = json.loads(fill(EXAMPLES / "ec2" / "launch-template.json"))
    template = ec2.create_launch_template(LaunchTemplateName="hello-ecs", LaunchTemplateData=data)["LaunchTemplate"]
    made = ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"])[
        "LaunchTemplateVersions"
    ]
    made_data = made[0]["LaunchTemplateData"]
    # And the instances join the cluster hello through their user data, in the reader's security group
    assert "ECS_CLUSTER=hello" in base64.b64decode(made_data["UserData"]).decode()
    assert made_data["SecurityGroupIds"] == [VALUES["SECURITY_GROUP_ID"]]
    assert made_data["ImageId"] == VALUES["AMI_ID"] and made_data["IamInstanceProfile"] == {
        "Name": "hello-ecs-instance"
    }


def test_the_declarations_validate_as_shipped_and_as_filled_in(tmp_path: Path) -> None:
    # Given examples/dockhand.yaml as shipped (placeholders in its network), and as the guide writes it
    filled = tmp_path / "dockhand.yaml"
    filled.write_text(fill(EXAMPLES / "dockhand.yaml"), encoding="utf-8")

    # When `dockhand validate` checks each
    for path in (EXAMPLES / "dockhand.yaml", filled):
        out = CliRunner().invoke(app, ["validate", str(path)])

        # Then each is valid: one deploy target, one job
        assert out.exit_code == 0, out.output
        assert "1 deploy target(s), 1 job(s)" in out.output
    # And the job runs in the reader's subnets and security group
    (job,) = load_config(filled).jobs
    assert job.network is not None
    assert job.network.subnets == VALUES["SUBNET_IDS"].split(",")
    assert job.network.security_groups == [VALUES["SECURITY_GROUP_ID"]]


def test_the_declarations_name_what_the_examples_define() -> None:
    # Given the declarations and the example task definitions
    config = load_config(EXAMPLES / "dockhand.yaml")
    families = {json.loads(p.read_text())["family"]: json.loads(p.read_text()) for p in TASK_DEFINITIONS}

    # Then the deploy target's repository is the one both web task definitions' containers come from
    (target,) = config.deploy.targets
    for family in ("hello-web", "hello-web-ec2"):
        assert families[family]["containerDefinitions"][0]["image"].rsplit("/", 1)[1].split(":")[0] == target.repository
    assert target.services == ["hello-web", "hello-web-ec2"] and target.circuit_breaker is not None
    # And the job's task definition, container override and cluster are the batch example's and the services'
    (job,) = config.jobs
    batch = families[job.task_definition]
    assert [o.name for o in job.overrides] == [c["name"] for c in batch["containerDefinitions"]]
    assert job.cluster == target.cluster
