"""Restarts and outages, tried locally: awsvpc tasks restart into `watch.restart.network` (created by the runtime
from the names in the file), and a notification channel can be made to fail and recover."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from dockhand_local.runtime import Runtime, RuntimeOptions
from tests.support.local import register_fargate_family, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local-runtime")]

FAMILY = "worker"  # restarted
OTHER = "mailer"  # not restarted; its own crash-loop window


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """A runtime at wall speed; standalone `worker` tasks (awsvpc) restart into the network the file names."""
    here = tmp_path_factory.mktemp("outages")
    config = {
        "version": 1,
        "watch": {
            "restart": {
                "families": [FAMILY],
                "backoff_seconds": 30,
                "network": {"subnets": ["subnet-workers"], "security_groups": ["sg-workers"]},
            }
        },
        "notifications": {"sns": True, "slack": {"mode": "bot", "channel": "#ops"}},
    }
    path = here / "dockhand.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    options = RuntimeOptions(config_path=path, state_dir=here / "state", speed=1.0, handler_log=here / "handlers.log")
    with Runtime(options) as rt:
        ecs = rt.client("ecs")
        ecs.create_cluster(clusterName="ops")
        for family in (FAMILY, OTHER):
            register_fargate_family(ecs, family)
        yield rt


def test_an_awsvpc_task_restarts_into_the_network_the_file_names(runtime: Runtime) -> None:
    # Given the subnet and security group the file names by name were created, with ids of their own
    subnet, group = runtime.network["subnet-workers"], runtime.network["sg-workers"]
    assert subnet.startswith("subnet-") and subnet != "subnet-workers" and group.startswith("sg-")

    # When a standalone worker task crashes, and the restart's backoff passes on the local clock
    runtime.stop_tasks("ops", family=FAMILY, exit_code=1, reason="crashed", started_by="ops-runbook")
    wait_until(lambda: any("watcher" in e.text for e in runtime.timeline), "the watcher's delivery")
    runtime.clock.advance(60)

    # Then the watcher ran it again in that network
    ecs = runtime.client("ecs")

    def restarted() -> list[dict[str, Any]]:
        arns = ecs.list_tasks(cluster="ops")["taskArns"]
        tasks = ecs.describe_tasks(cluster="ops", tasks=arns)["tasks"] if arns else []
        return [t for t in tasks if str(t.get("startedBy", "")).startswith("dockhand-restart/1/")]

    (task,) = wait_until(restarted, "the restart")
    eni = next(a for a in task["attachments"] if a["type"] == "ElasticNetworkInterface")
    assert {"name": "subnetId", "value": subnet} in eni["details"]
    assert not [e for e in runtime.errors if "restart" in e.lower()]


def test_sns_down_then_up_delivers_the_alert_once_per_channel(runtime: Runtime) -> None:
    # Given SNS is down
    assert runtime.wait_idle(timeout=30) == []
    sns_before, slack_before = len(runtime.messages()["sns"]), len(runtime.messages()["slack"])
    timeline_before = len(runtime.timeline)
    runtime.channel_down("sns")

    # When a mailer task crashes
    runtime.stop_tasks("ops", family=OTHER, exit_code=2, reason="outage test", started_by="ops-runbook")

    # Then Slack has the alert, SNS has not, and the record waits for a retry
    wait_until(lambda: len(runtime.messages()["slack"]) > slack_before, "the Slack alert")
    wait_until(lambda: any(e.data.get("failed") for e in runtime.timeline[timeline_before:]), "a failed delivery")
    assert len(runtime.messages()["sns"]) == sns_before

    # When SNS comes back
    runtime.channel_up("sns")

    # Then the alert reaches SNS, and Slack is not sent it a second time
    wait_until(lambda: len(runtime.messages()["sns"]) > sns_before, "the SNS delivery after the outage")
    assert runtime.wait_idle(timeout=30) == []
    alerts = [m for m in runtime.messages()["slack"][slack_before:] if f"{OTHER}:" in (m.get("text") or "")]
    assert len(alerts) == 1, runtime.messages()["slack"][slack_before:]
    assert [e.text for e in runtime.timeline if e.kind == "control"][-2:] == [
        "sns is down until `dockhand local channel-up`",
        "sns is up again",
    ]
