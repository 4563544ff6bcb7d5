"""Bad input is decided at the edge, once: the real handlers, the stack in moto, every AWS call recorded.

A message that breaks its contract is parked in the function's DLQ at its first receive, with the reason as the
`dockhand-error` attribute; nothing else in AWS changes, it is not retried, and the rest of the batch goes on.
An error after the edge (a ValidationError inside a flow) is a bug: it is retried, not parked.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from dockhand_local.images import image_manifest
from dockhand_local.lambda_context import LambdaContext
from tests.support.aws_calls import AwsCalls
from tests.support.cfn import CfnReceiver
from tests.support.events import load_event, sqs_event, with_detail
from tests.support.metrics import metric_total

ACCOUNT = "123456789012"
REGION = "us-east-1"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
DIGEST = "sha256:" + "d" * 64
DEEP = '{"id": "x", "detail": ' + "[" * 10_000 + "]" * 10_000 + "}"


SAMPLES = Path(__file__).parents[1] / "samples"


@pytest.fixture
def cfn_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with CfnReceiver() as receiver:
        yield receiver.url, receiver.received


def fifo(*bodies: Any, group: str = "ecr-push") -> dict[str, Any]:
    event = sqs_event(*bodies)
    for record in event["Records"]:
        record["attributes"]["MessageGroupId"] = group
    return event


def dlq_messages(stack: Any, logical: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    out: list[dict[str, Any]] = []
    while msgs := sqs.receive_message(
        QueueUrl=stack.queue_url(logical), MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        out += msgs
        for m in msgs:
            sqs.delete_message(QueueUrl=stack.queue_url(logical), ReceiptHandle=m["ReceiptHandle"])
    return out


def reasons(messages: list[dict[str, Any]]) -> list[str]:
    return sorted(m["MessageAttributes"]["dockhand-error"]["StringValue"].split(":", 1)[0] for m in messages)


def push(tag: str = "2.1.0", **over: Any) -> dict[str, Any]:
    event = with_detail(
        load_event("ecr-image-push-semver"), **{"repository-name": "web", "image-tag": tag, "image-digest": DIGEST}
    )
    event.update(region=REGION, account=ACCOUNT, **over)
    return event


@pytest.fixture
def deployer(stack: Any, write_config: Callable[..., Path], function_env: Callable[..., Any]) -> Callable[..., Any]:
    """Service `web` in cluster `prod`, deployed by a target that takes any tag (`glob:*`)."""
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_cluster(clusterName="prod")
    td = ecs.register_task_definition(
        family="web", containerDefinitions=[{"name": "web", "image": f"{REGISTRY}/web:1.0.0", "memory": 256}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="prod", serviceName="web", taskDefinition=td, desiredCount=1)
    target = {"name": "web", "repository": "web", "tags": "glob:*", "cluster": "prod", "services": ["web"]}
    function_env("DeployerFunction", write_config({"version": 1, "deploy": {"targets": [target]}}))
    from functions.deployer import app

    return lambda event: app.lambda_handler(event, LambdaContext())


def revisions() -> int:
    return len(boto3.client("ecs", region_name=REGION).list_task_definitions(familyPrefix="web")["taskDefinitionArns"])


# -------------------------------------------------------------------------------------------- deployer


def test_pushes_that_break_the_contract_are_parked_in_the_fifo_dlq_and_deploy_nothing(deployer, stack, capsys):
    handler = deployer
    calls = AwsCalls().install()
    bad = [
        push(id=""),  # the exactly-once key is empty
        push(tag="1.0 beta"),  # not a tag ECR could have made, even though glob:* takes anything
        push(tag="-rc"),
        with_detail(push(), **{"image-digest": "sha256:1234"}),
        push(time="2026-11-01T10:00:00"),  # no time zone
        DEEP,
    ]
    # When they arrive in the push group of the FIFO deploy queue
    result = handler(fifo(*bad))
    # Then none is retried, nothing is deployed, and the only AWS change is each one parked in the DLQ
    assert result == {"batchItemFailures": []}
    assert revisions() == 1
    assert calls.mutations(stack.queue_url("DeployDLQ")) == []
    parked = dlq_messages(stack, "DeployDLQ")
    assert reasons(parked) == ["malformed"] * 5 + ["too_deep"]
    assert {m["Body"] for m in parked} == {b if isinstance(b, str) else json.dumps(b) for b in bad}
    assert metric_total(capsys.readouterr().out, "BadInput") == 6


def test_a_parked_push_does_not_hold_back_the_pushes_behind_it_in_its_group(deployer, stack):
    # Given garbage and then a good push (of an image ECR holds under its tag) in the same FIFO group
    ecr = boto3.client("ecr", region_name=REGION)
    ecr.create_repository(repositoryName="web")
    image = ecr.put_image(repositoryName="web", imageManifest=image_manifest("web:2.1.0"), imageTag="2.1.0")["image"]
    good = with_detail(push("2.1.0"), **{"image-digest": image["imageId"]["imageDigest"]})
    result = deployer(fifo(push(tag="bad tag"), good))
    # Then the garbage is parked and the good push deploys in the same batch
    assert result == {"batchItemFailures": []}
    assert revisions() == 2
    [parked] = dlq_messages(stack, "DeployDLQ")
    assert "detail.image-tag" in parked["MessageAttributes"]["dockhand-error"]["StringValue"]


def test_a_notification_retry_that_breaks_its_contract_is_parked(deployer, stack):
    retry = {"dockhand": "notify", "key": "", "notification": {"kind": "deploy_started", "title": "x"}}
    assert deployer(fifo(retry, group="notify")) == {"batchItemFailures": []}
    assert reasons(dlq_messages(stack, "DeployDLQ")) == ["malformed"]


# --------------------------------------------------------------------------------------------- watcher


@pytest.fixture
def watcher(stack: Any, write_config: Callable[..., Path], function_env: Callable[..., Any]) -> Callable[..., Any]:
    function_env("WatcherFunction", write_config({"version": 1, "notifications": {"sns": True}}))
    from functions.watcher import app

    return lambda *bodies: app.lambda_handler(sqs_event(*bodies), LambdaContext())


def test_task_and_service_events_that_break_the_contract_alert_nothing_and_write_nothing(watcher, stack):
    crash = load_event("ecs-task-stopped-oom")
    no_resources = load_event("ecs-service-action-placement-failure") | {"resources": []}
    big_version = json.dumps(crash).replace('"version": 7', '"version": ' + "9" * 40)
    assert '"version": 9999' in big_version
    unknown = crash | {"detail-type": "ECS Container Instance State Change"}
    bad = [
        with_detail(crash, taskArn=""),
        with_detail(crash, clusterArn=""),
        with_detail(crash, stoppedAt="2020-03-16T15:37:04.979"),
        with_detail(crash, group="service:" + "x" * 3000),  # would break the alert window's DynamoDB key
        no_resources,
        big_version,
        DEEP,
        unknown,
    ]
    handler = watcher
    calls = AwsCalls().install()
    # When they arrive
    result = handler(*bad)
    # Then none is retried, the only AWS change is the park, and each waits in the DLQ with its reason
    assert result == {"batchItemFailures": []}
    assert calls.mutations(stack.queue_url("WatchDLQ")) == []
    assert reasons(dlq_messages(stack, "WatchDLQ")) == [
        "bad_number",
        "malformed",
        "malformed",
        "malformed",
        "malformed",
        "malformed",
        "too_deep",
        "unexpected_event",
    ]
    # And the same event, whole, alerts (the contract refused the breakage, not the event)
    calls.clear()
    assert handler(crash) == {"batchItemFailures": []}
    assert "sns:Publish" in calls.mutations()


def test_a_validation_error_inside_a_flow_is_retried_not_parked(watcher, stack, capsys, caplog):
    # Given a restart attempt whose stored row is corrupt (a bug of ours or a bad migration, not bad input)
    from dockhand import deps

    deps.table().put({"pk": "RESTART#abc", "sk": "ATTEMPT#001", "chain": "abc", "attempt": "one", "state": "x"})
    message = {"dockhand": "watch", "action": "restart", "chain": "abc", "attempt": 1}
    # When the (valid) restart message arrives
    result = watcher(message)
    # Then the record fails (SQS retries it, then the redrive parks it), it is not parked as bad input,
    # and the error is logged as one with its type
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert dlq_messages(stack, "WatchDLQ") == []
    out = capsys.readouterr().out
    assert metric_total(out, "BadInput") == 0
    assert metric_total(out, "RecordFailed", error="ValidationError") == 1
    [error] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert error.getMessage().startswith("record failed after the edge") and error.exc_info is not None


@pytest.mark.parametrize("function", ["deployer", "watcher", "batch"])
def test_an_empty_batch_has_no_failures(function: str, stack: Any, write_config: Any, function_env: Any) -> None:
    function_env(f"{function.capitalize()}Function", write_config({"version": 1}))
    import importlib

    app = importlib.import_module(f"functions.{function}.app")
    assert app.lambda_handler({"Records": []}, LambdaContext()) == {"batchItemFailures": []}


# ----------------------------------------------------------------------------------------------- batch


def test_schedule_payloads_that_break_the_contract_launch_nothing(stack, write_config, function_env, capsys):
    function_env("BatchFunction", write_config({"version": 1}))
    from functions.batch.app import lambda_handler

    launch = load_event("schedule-launch")
    bad = [
        launch | {"scheduled_time": "2026-11-29T01:00:00"},  # no time zone
        launch | {"job": ""},
        load_event("schedule-retry") | {"attempt": 10**40},
        load_event("schedule-deadline") | {"run_id": "r" * 200},
        {"hello": "world"},
    ]
    calls = AwsCalls().install()
    result = lambda_handler(sqs_event(*bad), LambdaContext())
    assert result == {"batchItemFailures": []}
    assert calls.mutations(stack.queue_url("BatchDLQ")) == []
    assert reasons(dlq_messages(stack, "BatchDLQ")) == [
        "bad_number",
        "malformed",
        "malformed",
        "malformed",
        "unknown_message",
    ]


# ------------------------------------------------------------------------------------------ schedule sync


def test_a_cloudformation_request_that_breaks_its_contract_is_answered_failed_and_changes_nothing(
    stack, write_config, function_env, cfn_receiver
):
    url, received = cfn_receiver
    function_env("ScheduleSyncFunction", write_config({"version": 1}))
    from functions.schedule_sync.app import lambda_handler

    request = json.loads((SAMPLES / "cloudformation-schedules-update.json").read_text())
    request["ResponseURL"] = url
    props = request["ResourceProperties"]
    props.update(ScheduleGroup=stack.physical["ScheduleGroup"], TargetArn="arn:aws:sns:us-east-1:123456789012:t")
    calls = AwsCalls().install()
    # When CloudFormation sends a request whose target is no queue
    answer = lambda_handler(request, LambdaContext())
    # Then CloudFormation hears FAILED naming the field, and no schedule call was made
    assert answer["Status"] == "FAILED"
    assert received[-1]["Status"] == "FAILED" and "ResourceProperties.TargetArn" in received[-1]["Reason"]
    assert calls.calls == []
    # And a request that cannot be answered (no ResponseURL) is dropped, not raised (never retried)
    unanswerable = copy.deepcopy(request)
    del unanswerable["ResponseURL"]
    assert lambda_handler(unanswerable, LambdaContext())["Status"] == "FAILED"
    assert len(received) == 1 and calls.calls == []
