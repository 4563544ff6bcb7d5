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
    from dockhand_local.runtime import Runtime

LOCAL_VISIBILITY_TIMEOUT = 2  # wall seconds: failed records come back quickly instead of after 6 minutes


def install_config(source: Path, state_dir: Path) -> Path:
    """Lambda finds the file at /opt/dockhand.yaml (the config layer); locally each function gets a copy."""
    target = state_dir / "dockhand.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.resolve() != target.resolve():
        shutil.copyfile(source, target)
    return target.resolve()


def provision_network(rt: Runtime, config_copy: Path) -> dict[str, str]:
    """Jobs (`jobs[].network`) and restarts of awsvpc tasks (`watch.restart.network`) name subnets and security
    groups; moto makes its own ids, so create them in one VPC and write their ids into the functions' copy."""
    import yaml

    data = yaml.safe_load(config_copy.read_text(encoding="utf-8")) or {}
    networks = [j["network"] for j in data.get("jobs") or [] if isinstance(j, dict) and j.get("network")]
    restart = ((data.get("watch") or {}).get("restart") or {}).get("network")
    if restart:
        networks.append(restart)
    if not networks:
        return {}
    ec2 = rt.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto's RunTask needs it
    mapping: dict[str, str] = {}

    def subnet(name: str) -> str:
        return str(ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{len(mapping)}.0/24")["Subnet"]["SubnetId"])

    def group(name: str) -> str:
        return str(ec2.create_security_group(GroupName=name, Description=f"local {name}", VpcId=vpc)["GroupId"])

    for network in networks:
        for key, make in (("subnets", subnet), ("security_groups", group)):
            names = network.get(key) or []
            for name in names:
                if name not in mapping:
                    mapping[name] = make(name)
            network[key] = [mapping[name] for name in names]
    config_copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    rt.note("runtime", "networks created: " + ", ".join(f"{k} → {v}" for k, v in mapping.items()))
    return {"vpc": vpc, **mapping}


def sync_schedules(rt: Runtime, config_copy: Path, out: Any) -> None:
    """Create the jobs' schedules as a deploy would (the batch wing's sync)."""
    from dockhand.batch.schedules import sync_schedules as sync
    from dockhand.config import load_config

    stack = rt.stack
    assert stack is not None
    config = load_config(config_copy)
    if not config.jobs:
        return
    try:
        with redirect_stdout(out or sys.stdout):
            report = sync(
                config,
                rt.client("scheduler"),
                stack.physical["ScheduleGroup"],
                stack.arns["BatchQueue"],
                stack.arns["SchedulerRole"],
                stack.arns["BatchDLQ"],
            )
    except Exception as exc:  # the runtime still serves deploys and watch without schedules
        rt.errors.append(f"schedule sync: {type(exc).__name__}: {exc}")
        rt.note("error", f"job schedules not created: {type(exc).__name__}: {exc}")
        return
    rt.note("scheduler", f"job schedules created: {', '.join(report.created) or 'none'}")


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
        secret = {"bot_token": "xoxb-local", "api_url": slack.api_url}
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
