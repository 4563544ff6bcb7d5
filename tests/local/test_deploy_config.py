"""A declarations file deployed to a running runtime, as `sam deploy` deploys it: the functions read the new file,
the networks it names are made (ids that exist are kept), the jobs' schedules follow it. And the account around
the stack has what every AWS account has: the AWS managed policies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dockhand.errors import ConfigError
from dockhand_local.runtime import Runtime, RuntimeOptions

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local-runtime")]

TASK_EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"


# First in the module, before its runtime starts: moto's backends and settings are process-wide.
def test_moto_makes_no_managed_policies_once_the_runtime_stopped(tmp_path: Path) -> None:
    # Given a runtime that started (its account has the AWS managed policies) and stopped in this process
    options = RuntimeOptions(config_path=Path("/dev/null"), state_dir=tmp_path, pump=False, slack=False)
    with Runtime(options) as rt:
        assert rt.client("iam").get_policy(PolicyArn=TASK_EXECUTION_POLICY)["Policy"]["IsAttachable"]

    # When in-process moto makes a new account afterwards (as the other tests of this process do)
    from moto import mock_aws

    with mock_aws():
        import boto3

        policies = boto3.client("iam", region_name="us-east-1").list_policies(Scope="AWS")["Policies"]

    # Then it has no AWS managed policies, as moto's default is
    assert policies == []


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """A runtime started with an empty declarations file (nothing deployed yet), its pump off."""
    here = tmp_path_factory.mktemp("deploy-config")
    empty = here / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    options = RuntimeOptions(
        config_path=empty, state_dir=here / "state", pump=False, speed=1.0, handler_log=here / "handlers.log"
    )
    with Runtime(options) as rt:
        yield rt


def _job(name: str, subnets: list[str], groups: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "schedule": "cron(0 6 * * ? *)",
        "timezone": "Europe/Berlin",
        "cluster": "jobs",
        "task_definition": name,
        "launch_type": "FARGATE",
        "network": {"subnets": subnets, "security_groups": groups},
    }


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _schedules(rt: Runtime) -> dict[str, dict[str, Any]]:
    assert rt.stack is not None
    scheduler, group = rt.client("scheduler"), rt.stack.physical["ScheduleGroup"]
    names = [s["Name"] for s in scheduler.list_schedules(GroupName=group)["Schedules"]]
    schedules = {n: scheduler.get_schedule(Name=n, GroupName=group) for n in names}
    for schedule in schedules.values():
        schedule.pop("ResponseMetadata")
    return schedules


def _functions_file(rt: Runtime) -> dict[str, Any]:
    """The file the functions read (DOCKHAND_CONFIG of their environment)."""
    return yaml.safe_load(Path(rt.function_env("BatchFunction")["DOCKHAND_CONFIG"]).read_text(encoding="utf-8"))


def test_a_deployed_file_keeps_existing_network_ids_and_makes_its_job_schedule(
    runtime: Runtime, tmp_path: Path
) -> None:
    # Given a subnet and a security group made by a client (as a user makes them), and a file that names them by id
    # beside a subnet it names by a name of its own
    ec2 = runtime.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][0]["SubnetId"]
    group = ec2.create_security_group(GroupName="reports", Description="reports", VpcId=vpc)["GroupId"]
    path = _write(
        tmp_path / "dockhand.yaml", {"version": 1, "jobs": [_job("report", [subnet, "subnet-extra"], [group])]}
    )
    assert _schedules(runtime) == {}

    # When it is deployed
    lines = runtime.deploy_config(path)

    # Then the functions read it, with the ids that exist kept and the name made into a subnet of the runtime's
    (job,) = _functions_file(runtime)["jobs"]
    made = runtime.network["subnet-extra"]
    assert job["network"] == {"subnets": [subnet, made], "security_groups": [group]}
    assert made != "subnet-extra" and ec2.describe_subnets(SubnetIds=[made])["Subnets"]
    # And the job's schedule exists, sending the job's launches to the batch queue
    schedule = _schedules(runtime)["report"]
    assert schedule["ScheduleExpression"] == "cron(0 6 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert runtime.stack is not None and schedule["Target"]["Arn"] == runtime.stack.arns["BatchQueue"]
    assert json.loads(schedule["Target"]["Input"])["job"] == "report"
    assert lines == ["0 deploy target(s), 1 job(s)", "job schedules created: report"]


def test_deploying_again_follows_the_file_and_a_job_removed_loses_its_schedule(
    runtime: Runtime, tmp_path: Path
) -> None:
    # Given a file deployed with two jobs
    first = _write(
        tmp_path / "one.yaml",
        {"version": 1, "jobs": [_job("keep", ["subnet-a"], ["sg-a"]), _job("drop", ["subnet-a"], ["sg-a"])]},
    )
    runtime.deploy_config(first)
    subnet_a = runtime.network["subnet-a"]

    # When a file without one of them, the other at another hour, is deployed
    changed = _job("keep", ["subnet-a"], ["sg-a"]) | {"schedule": "cron(30 7 * * ? *)"}
    lines = runtime.deploy_config(_write(tmp_path / "two.yaml", {"version": 1, "jobs": [changed]}))

    # Then the schedules are the file's: one updated, one deleted, and every earlier one gone
    schedules = _schedules(runtime)
    assert set(schedules) == {"keep"}
    assert schedules["keep"]["ScheduleExpression"] == "cron(30 7 * * ? *)"
    assert "job schedules updated: keep" in lines and "job schedules deleted: drop" in lines
    # And a name deployed before keeps the subnet made for it
    assert runtime.network["subnet-a"] == subnet_a
    assert _functions_file(runtime)["jobs"][0]["network"]["subnets"] == [subnet_a]


def test_an_invalid_file_changes_nothing(runtime: Runtime, tmp_path: Path) -> None:
    # Given what is deployed now
    before_file, before_schedules = _functions_file(runtime), _schedules(runtime)

    # When a file with a bad time zone is deployed
    bad = _job("late", ["subnet-b"], ["sg-b"]) | {"timezone": "Mars/Olympus"}
    with pytest.raises(ConfigError, match=r"jobs\.0\.timezone"):
        runtime.deploy_config(_write(tmp_path / "bad.yaml", {"version": 1, "jobs": [bad]}))

    # Then the functions' file, the schedules and the networks are as they were
    assert _functions_file(runtime) == before_file
    assert _schedules(runtime) == before_schedules
    assert "subnet-b" not in runtime.network


def test_the_slack_secret_follows_the_mode_the_deployed_file_asks_for(runtime: Runtime, tmp_path: Path) -> None:
    # Given a runtime whose stack's Slack secret was made for the bot mode (the default)
    assert runtime.stack is not None and runtime.slack is not None
    secrets = runtime.client("secretsmanager")
    secret_id = runtime.stack.physical["SlackSecret"]

    # When a file asking for an incoming webhook is deployed
    runtime.deploy_config(
        _write(tmp_path / "slack.yaml", {"version": 1, "notifications": {"slack": {"mode": "webhook"}}})
    )

    # Then the secret holds the loopback Slack's webhook URL
    secret = json.loads(secrets.get_secret_value(SecretId=secret_id)["SecretString"])
    assert secret == {"webhook_url": runtime.slack.webhook_url}


def test_the_aws_managed_policies_exist_in_the_runtimes_account(runtime: Runtime) -> None:
    # Given a task execution role made by a client, as the getting-started guide makes it
    iam = runtime.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.create_role(RoleName="exec", AssumeRolePolicyDocument=json.dumps(trust))

    # When AWS's managed policy for it is attached
    iam.attach_role_policy(RoleName="exec", PolicyArn=TASK_EXECUTION_POLICY)

    # Then the role has it, with the policy's AWS document
    attached = iam.list_attached_role_policies(RoleName="exec")["AttachedPolicies"]
    assert attached == [{"PolicyName": "AmazonECSTaskExecutionRolePolicy", "PolicyArn": TASK_EXECUTION_POLICY}]
    version = iam.get_policy(PolicyArn=TASK_EXECUTION_POLICY)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=TASK_EXECUTION_POLICY, VersionId=version)["PolicyVersion"]["Document"]
    assert "ecr:GetAuthorizationToken" in json.dumps(document)
