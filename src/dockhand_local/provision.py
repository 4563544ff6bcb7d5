"""Provisioning the local stack beyond template.yaml: what a deploy and the account around it would give.

The declarations file is copied where the functions read it; the networks it names are created (moto makes
its own ids); the jobs' schedules are made as the deploy's custom resource makes them; SNS deliveries are
captured; the stack's Slack secret points at the loopback Slack; queue visibility is shortened.
"""

from __future__ import annotations

import json
import shutil
import sys
from contextlib import redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockhand_local.pump import SNS_CAPTURE_QUEUE

if TYPE_CHECKING:
    from dockhand.batch.schedules import SyncReport
    from dockhand_local.runtime import Runtime

LOCAL_VISIBILITY_TIMEOUT = 2  # wall seconds: failed records come back quickly instead of after 6 minutes


def install_config(source: Path, state_dir: Path) -> Path:
    """Lambda finds the file at /opt/dockhand.yaml (the config layer); locally each function gets a copy."""
    target = state_dir / "dockhand.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.resolve() != target.resolve():
        shutil.copyfile(source, target)
    return target.resolve()


def provision_network(rt: Runtime, config_copy: Path, known: dict[str, str] | None = None) -> dict[str, str]:
    """Jobs (`jobs[].network`) and restarts of awsvpc tasks (`watch.restart.network`) name subnets and security
    groups; moto makes its own ids, so create them in one VPC and write their ids into the functions' copy.

    A name that is already the id of a subnet or security group in moto (one the user made with any client) is
    kept as it is; `known` maps names created before (by an earlier deploy) to their ids. Returns the mapping,
    with `vpc` when a VPC was made.
    """
    import yaml

    data = yaml.safe_load(config_copy.read_text(encoding="utf-8")) or {}
    networks = [j["network"] for j in data.get("jobs") or [] if isinstance(j, dict) and j.get("network")]
    restart = ((data.get("watch") or {}).get("restart") or {}).get("network")
    if restart:
        networks.append(restart)
    if not networks:
        return {}
    ec2 = rt.client("ec2")
    mapping: dict[str, str] = dict(known or {})
    created: dict[str, str] = {}

    def vpc() -> str:
        if "vpc" not in mapping:
            mapping["vpc"] = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
            ec2.modify_vpc_attribute(VpcId=mapping["vpc"], EnableDnsHostnames={"Value": True})  # moto's RunTask
        return mapping["vpc"]

    def subnet(name: str) -> str:
        cidr = f"10.42.{len(mapping)}.0/24"
        return str(ec2.create_subnet(VpcId=vpc(), CidrBlock=cidr)["Subnet"]["SubnetId"])

    def group(name: str) -> str:
        return str(ec2.create_security_group(GroupName=name, Description=f"local {name}", VpcId=vpc())["GroupId"])

    for network in networks:
        for key, make in (("subnets", subnet), ("security_groups", group)):
            names = network.get(key) or []
            for name in names:
                if name in mapping:
                    continue
                if _exists(ec2, key, name):
                    mapping[name] = name
                else:
                    mapping[name] = created[name] = make(name)
            network[key] = [mapping[name] for name in names]
    config_copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    if created:
        rt.note("runtime", "networks created: " + ", ".join(f"{k} → {v}" for k, v in created.items()))
    return mapping


def _exists(ec2: Any, key: str, name: str) -> bool:
    """Whether `name` is the id of a subnet (`subnets`) or security group (`security_groups`) moto has."""
    from botocore.exceptions import ClientError

    try:
        if key == "subnets":
            return bool(ec2.describe_subnets(SubnetIds=[name])["Subnets"])
        return bool(ec2.describe_security_groups(GroupIds=[name])["SecurityGroups"])
    except ClientError:  # InvalidSubnetID.NotFound, InvalidGroup.NotFound, a malformed id
        return False


def sync_schedules(rt: Runtime, config_copy: Path, out: Any) -> SyncReport:
    """Create, update and delete the jobs' schedules as a deploy would (the batch wing's sync)."""
    from dockhand.batch.schedules import sync_schedules as sync
    from dockhand.config import load_config

    stack = rt.stack
    assert stack is not None
    with redirect_stdout(out or sys.stdout):
        report = sync(
            load_config(config_copy),
            rt.client("scheduler"),
            stack.physical["ScheduleGroup"],
            stack.arns["BatchQueue"],
            stack.arns["SchedulerRole"],
            stack.arns["BatchDLQ"],
        )
    changed = [
        f"{what} {', '.join(names)}" for what, names in report.as_dict().items() if names and what != "unchanged"
    ]
    rt.note("scheduler", f"job schedules: {'; '.join(changed) or 'none changed'}")
    return report


def capture_sns(rt: Runtime) -> str:
    """An SQS queue subscribed to the notification topic; returns its URL (the pump reads it)."""
    assert rt.stack is not None
    sqs = rt.client("sqs")
    url = str(sqs.create_queue(QueueName=SNS_CAPTURE_QUEUE)["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rt.client("sns").subscribe(TopicArn=rt.stack.topic_arn, Protocol="sqs", Endpoint=arn)
    return url


def point_slack_secret(rt: Runtime, config_path: Path, slack: Any) -> None:
    """The stack's Slack secret holds the loopback Slack's URL, in the mode the declarations ask for."""
    from dockhand.config import load_config

    assert rt.stack is not None
    slack_cfg = load_config(config_path).notifications.slack
    if slack_cfg is not None and slack_cfg.mode == "webhook":
        secret = {"webhook_url": slack.webhook_url}
    else:
        secret = {"bot_token": "xoxb-local", "api_url": slack.api_url, "signing_secret": rt.signing_secret}
    rt.client("secretsmanager").put_secret_value(
        SecretId=rt.stack.physical["SlackSecret"], SecretString=json.dumps(secret)
    )


def shorten_visibility(rt: Runtime) -> None:
    assert rt.stack is not None
    sqs = rt.client("sqs")
    timeout = max(1, round(LOCAL_VISIBILITY_TIMEOUT * rt.clock.speed))  # local seconds
    for fn in rt.stack.functions.values():
        if fn.queue_url:
            sqs.set_queue_attributes(QueueUrl=fn.queue_url, Attributes={"VisibilityTimeout": str(timeout)})
