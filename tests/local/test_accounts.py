"""A workload account, locally: config/dockhand.yaml's production account gets the workload-account template (its
role, its rule forwarding ECS events to Dockhand's bus), and an ECS event there reaches the watcher with the
account and Region it happened in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dockhand_local.runtime import Runtime, RuntimeOptions
from dockhand_local.sample import PROD_ACCOUNT, PROD_CLUSTER, PROD_REGION
from tests.support.events import load_event
from tests.support.local import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local-runtime")]

CONFIG = Path(__file__).resolve().parents[2] / "config" / "dockhand.yaml"


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    here = tmp_path_factory.mktemp("accounts")
    options = RuntimeOptions(config_path=CONFIG, state_dir=here / "state", speed=1.0, handler_log=here / "handlers.log")
    with Runtime(options) as rt:
        rt.create_sample()
        yield rt


def test_the_production_account_has_the_workload_stack(runtime: Runtime) -> None:
    # Given the runtime started on config/dockhand.yaml (production: account 210987654321, eu-west-1)
    cloudformation = runtime.client("cloudformation", PROD_ACCOUNT, PROD_REGION)
    iam = runtime.client("iam", PROD_ACCOUNT, PROD_REGION)
    events = runtime.client("events", PROD_ACCOUNT, PROD_REGION)

    # Then the workload-account template was created there: the role Dockhand assumes, trusting Dockhand's account
    # on the declared external id, and a rule sending ECS events to Dockhand's bus
    stack = cloudformation.describe_stacks(StackName="dockhand-workload")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    trust = iam.get_role(RoleName="dockhand-workload")["Role"]["AssumeRolePolicyDocument"]
    statement = (json.loads(trust) if isinstance(trust, str) else trust)["Statement"][0]
    assert statement["Principal"]["AWS"].endswith(":123456789012:root")
    assert statement["Condition"]["StringEquals"]["sts:ExternalId"] == "dockhand-demo"
    targets = [
        t["Arn"] for r in events.list_rules()["Rules"] for t in events.list_targets_by_rule(Rule=r["Name"])["Targets"]
    ]
    assert "arn:aws:events:us-east-1:123456789012:event-bus/default" in targets


def test_a_task_stopped_in_the_workload_account_is_reported_with_its_account_and_region(runtime: Runtime) -> None:
    # Given a task of prod/web that crashed in the production account, eu-west-1 (ECS puts the event on that
    # account's bus; the workload rule forwards it)
    raw = json.dumps(load_event("ecs-task-stopped-service-crash"))
    raw = raw.replace("111111111111", PROD_ACCOUNT).replace("eu-central-1", PROD_REGION)
    raw = raw.replace("cluster/test", f"cluster/{PROD_CLUSTER}").replace("task/test/", f"task/{PROD_CLUSTER}/")
    raw = raw.replace("service:example-api-v1", "service:web").replace("example-api-v1:20", "web:1")
    event = json.loads(raw)
    event["detail"]["stoppedAt"] = datetime.now(UTC).isoformat()
    before = len(runtime.messages()["sns"])

    # When it happens
    runtime.put_event(event)

    # Then the watcher's alert names the production account's Region in its links (the envelope arrived whole)
    def alert() -> str:
        sent = [json.dumps(m["message"]) for m in runtime.messages()["sns"][before:]]
        return next((m for m in sent if "web" in m and "exit" in m.lower()), "")

    text = wait_until(alert, "the alert", timeout=60)
    assert f"{PROD_REGION}.console.aws.amazon.com" in text and "us-east-1.console" not in text, text
