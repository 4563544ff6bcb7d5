"""The contract every message meets at the edge: body limits (`handling.record_json`), the event models
(`dockhand.events`) and ARN shapes (`dockhand.arns`). What breaks it is InvalidEvent, named and with a reason."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockhand import arns
from dockhand.errors import InvalidEvent
from dockhand.events import (
    DeploymentStateChange,
    EcrImageAction,
    SchedulePayload,
    ServiceAction,
    TaskStateChange,
    WatchAction,
    parse_event,
    parse_message,
)
from dockhand.handling import MAX_BODY_BYTES, MAX_DEPTH, record_json
from tests.support.events import EVENTS, load_event

WATCHED = (TaskStateChange, DeploymentStateChange, ServiceAction)


def _rejected(body: str) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        record_json(body)
    return caught.value


# ------------------------------------------------------------------------------------------- body limits


def test_json_nested_ten_thousand_deep_is_rejected_not_a_recursion_error() -> None:
    # Given an array nested 10,000 deep (json.loads alone raises RecursionError)
    body = "[" * 10_000 + "]" * 10_000
    # When read at the edge / Then it is bad input with its reason
    assert _rejected(json.dumps({"x": 1})[:-1] + ', "d": ' + body + "}").reason == "too_deep"


def test_nesting_is_limited_below_what_json_can_read() -> None:
    # Given an object nested one level deeper than the limit, and one exactly at it
    too_deep = {"a": 1}
    for _ in range(MAX_DEPTH):
        too_deep = {"a": too_deep}
    fits: Any = {"a": 1}
    for _ in range(MAX_DEPTH - 2):
        fits = {"a": fits}
    # Then the first is refused, naming the path, and the second is read
    error = _rejected(json.dumps(too_deep))
    assert error.reason == "too_deep" and "a.a.a" in str(error)
    assert record_json(json.dumps(fits)) == fits


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"version": ' + "9" * 39 + "}", "bad_number"),  # beyond DynamoDB's 38 digits (decimal.Inexact)
        ('{"version": -' + "9" * 39 + "}", "bad_number"),
        ('{"version": ' + "1" * 5000 + "}", "bad_number"),  # beyond Python's int conversion limit
        ('{"exitCode": 1e400}', "bad_number"),  # an infinite float
        ('{"exitCode": NaN}', "bad_number"),
        ('{"exitCode": -Infinity}', "bad_number"),
        ('{"reason": "\\ud800"}', "malformed"),  # a lone surrogate cannot be stored or sent
        ("[1, 2]", "malformed"),
        ("{not json", "malformed"),
        ('{"reason": "' + "x" * 8193 + '"}', "too_large"),
        ('{"' + "k" * 8193 + '": 1}', "too_large"),
        ('{"pad": "' + "x" * MAX_BODY_BYTES + '"}', "too_large"),
    ],
    ids=lambda v: v[:30] if isinstance(v, str) else v,
)
def test_body_limits(body: str, reason: str) -> None:
    assert _rejected(body).reason == reason


def test_numbers_that_fit_dynamodb_pass() -> None:
    assert record_json('{"v": ' + "9" * 38 + ', "f": 1.5, "b": true, "n": null}')["v"] == int("9" * 38)


# ----------------------------------------------------------------------------------------------- samples


def _handler_models(event: dict[str, Any]) -> Any:
    if event.get("detail-type") == "ECR Image Action":
        return parse_event(event, EcrImageAction)
    if "detail-type" in event:
        return parse_event(event, *WATCHED)
    return parse_message(SchedulePayload, event)


@pytest.mark.parametrize("name", sorted(p.name for p in EVENTS.glob("*.json")))
def test_every_sample_event_meets_the_contract(name: str) -> None:
    # Given a sample event (what AWS and Scheduler send) / Then the edge takes it as it is
    event = load_event(name)
    record_json(json.dumps(event))
    assert _handler_models(event) is not None


# ----------------------------------------------------------------------------------------------- events


def _with(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(event)
    *parents, last = path.split(".")
    node = out
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is _DROP:
        del node[last]
    else:
        node[last] = value
    return out


_DROP = object()
TASK = "ecs-task-stopped-oom"
OTHER_PARTITION = "arn:aws-cn:ecs:eu-central-1:111111111111:task/test/1f0c0ffee0000000000000000000a001"


@pytest.mark.parametrize(
    ("sample", "path", "value", "field"),
    [
        (TASK, "detail.taskArn", "", "detail.taskArn"),
        (TASK, "detail.taskArn", _DROP, "detail.taskArn"),
        (TASK, "detail.clusterArn", "", "detail.clusterArn"),
        (TASK, "detail.clusterArn", _DROP, "detail.clusterArn"),
        (TASK, "detail.taskArn", OTHER_PARTITION, "detail.taskArn"),  # partition of another region
        (TASK, "detail.taskArn", "arn:aws:ecs:eu-central-1:1111:task/test/abc", "detail.taskArn"),  # account
        (TASK, "detail.taskArn", "arn:aws:ecs:eu-central-1:111111111111:cluster/test", "detail.taskArn"),
        (TASK, "detail.taskArn", "arn:aws:ecs:eu-central-1:111111111111:task/other/abc", "detail"),  # cluster
        (
            TASK,
            "detail.taskDefinitionArn",
            "arn:aws:ecs:eu-central-1:111111111111:task-definition/x",
            "detail.taskDefinitionArn",
        ),
        (TASK, "detail.stoppedAt", "2020-03-16T15:37:04.979", "detail.stoppedAt"),  # no time zone
        (TASK, "time", "2020-03-16T15:37:04", "time"),
        (TASK, "detail.version", 2**63, "detail.version"),
        (TASK, "detail.containers.0.exitCode", 2**40, "detail.containers.0.exitCode"),
        (TASK, "detail.group", "service:" + "x" * 600, "detail.group"),  # would break the alert window's key
        (TASK, "id", "", "id"),
        (TASK, "region", "mars-central-1", "region"),
        ("ecs-service-action-placement-failure", "resources", [], "(event)"),
        ("ecs-service-action-placement-failure", "resources", _DROP, "(event)"),
        ("ecs-deployment-failed", "resources", ["arn:aws:ecs:us-west-2:111122223333:cluster/default"], "(event)"),
        ("ecs-deployment-failed", "detail.deploymentId", "", "detail.deploymentId"),
        ("ecr-image-push-semver", "id", "", "id"),
        ("ecr-image-push-semver", "id", _DROP, "id"),
        ("ecr-image-push-semver", "detail.image-tag", "v1 .0", "detail.image-tag"),
        ("ecr-image-push-semver", "detail.image-tag", ".hidden", "detail.image-tag"),
        ("ecr-image-push-semver", "detail.image-tag", "t" * 129, "detail.image-tag"),
        ("ecr-image-push-semver", "detail.image-digest", "sha256:abc", "detail.image-digest"),
        ("ecr-image-push-semver", "detail.image-digest", "md5:" + "a" * 64, "detail.image-digest"),
        ("ecr-image-push-semver", "detail.repository-name", "Web", "detail.repository-name"),
        ("ecr-image-push-semver", "time", "2026-11-01 10:00:00", "time"),
        ("schedule-launch", "scheduled_time", "2026-11-29T01:00:00", "scheduled_time"),  # no time zone
        ("schedule-launch", "scheduled_time", "2026-11-29T01:00:00\nZ", "scheduled_time"),  # fromisoformat takes it
        ("schedule-launch", "job", "", "job"),
        ("schedule-retry", "attempt", 10**40, "attempt"),
        ("schedule-retry", "run_id", "", "run_id"),
    ],
)
def test_a_broken_contract_is_invalid_and_names_the_field(sample: str, path: str, value: Any, field: str) -> None:
    # Given a sample event with one field broken
    event = _with(load_event(sample), path, value)
    # When it is parsed at the edge / Then it is refused, the field named
    with pytest.raises(InvalidEvent) as caught:
        _handler_models(event)
    assert caught.value.reason == "malformed"
    assert f"{field}:" in str(caught.value)


def test_an_unknown_detail_type_is_an_unexpected_event() -> None:
    event = load_event(TASK) | {"detail-type": "ECS Container Instance State Change"}
    with pytest.raises(InvalidEvent) as caught:
        parse_event(event, *WATCHED)
    assert caught.value.reason == "unexpected_event"
    assert "'ECS Container Instance State Change' is not handled here" in str(caught.value)


def test_an_untagged_push_is_valid_and_a_timestamp_with_an_offset_is_kept() -> None:
    event = _with(load_event("ecr-image-push-semver"), "detail.image-tag", "")
    assert parse_event(event, EcrImageAction).detail.image_tag == ""  # type: ignore[attr-defined]
    event = _with(load_event(TASK), "time", "2020-03-16T17:37:04+02:00")
    assert parse_event(event, *WATCHED).time.isoformat() == "2020-03-16T17:37:04+02:00"


def test_the_watchers_own_messages_are_bounded() -> None:
    good = {
        "dockhand": "watch",
        "action": "close_window",
        "cluster": "test",
        "group": "service:api",
        "cause": "oom",
        "opened_at": 1584372900,
    }
    assert parse_message(WatchAction, good).cluster == "test"
    for field, value in (("cluster", "x" * 300), ("cause", "OOM!"), ("opened_at", -1), ("attempt", 10**6)):
        with pytest.raises(InvalidEvent, match=field):
            parse_message(WatchAction, good | {field: value})
    # And a window or a restart cannot be found without its keys (an empty DynamoDB key is refused by AWS)
    for field in ("cluster", "group", "cause", "opened_at"):
        with pytest.raises(InvalidEvent, match="close_window needs"):
            parse_message(WatchAction, {k: v for k, v in good.items() if k != field})
    with pytest.raises(InvalidEvent, match="restart needs"):
        parse_message(WatchAction, {"dockhand": "watch", "action": "restart", "chain": "", "attempt": 1})


# -------------------------------------------------------------------------------------------------- ARNs


@pytest.mark.parametrize(
    ("arn", "kind", "parts"),
    [
        ("arn:aws:ecs:us-east-1:123456789012:task/prod/0123abcd", "task", {"cluster": "prod", "id": "0123abcd"}),
        ("arn:aws:ecs:us-east-1:123456789012:task/b99d40b3-5176-4f71", "task", {"id": "b99d40b3-5176-4f71"}),
        ("arn:aws-cn:ecs:cn-north-1:123456789012:cluster/prod", "cluster", {"cluster": "prod"}),
        ("arn:aws-us-gov:ecs:us-gov-west-1:123456789012:service/prod/web", "service", {"cluster": "prod"}),
        ("arn:aws:ecs:eu-west-1:123456789012:service/web", "service", {"service": "web"}),
        ("arn:aws:ecs:ap-south-2:123456789012:task-definition/web:12", "task-definition", {"revision": "12"}),
    ],
)
def test_ecs_arns_of_every_partition_are_read(arn: str, kind: str, parts: dict[str, str]) -> None:
    read = arns.ecs_arn(arn, kind)
    assert read.account == "123456789012"
    assert parts.items() <= read.parts.items()


@pytest.mark.parametrize(
    ("arn", "message"),
    [
        ("arn:aws:ecs:cn-north-1:123456789012:cluster/prod", "does not match region"),
        ("arn:aws-cn:ecs:us-east-1:123456789012:cluster/prod", "does not match region"),
        ("arn:azure:ecs:us-east-1:123456789012:cluster/prod", "does not match region"),
        ("arn:aws:ecs:moon-1:123456789012:cluster/prod", "not an AWS Region"),
        ("arn:aws:ecs:us-east-1:12345:cluster/prod", "not 12 digits"),
        ("arn:aws:ecs:us-east-1::cluster/prod", "has no account"),
        ("arn:aws:sqs:us-east-1:123456789012:cluster/prod", "service 'ecs'"),
        ("arn:aws:ecs:us-east-1:123456789012:cluster/pr od", "expected an ARN"),
        ("arn:aws:ecs:us-east-1:123456789012:cluster/" + "c" * 256, "expected an ECS cluster ARN"),
        ("cluster/prod", "expected an ARN"),
    ],
)
def test_malformed_arns_are_refused_with_the_reason(arn: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        arns.ecs_arn(arn, "cluster")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arn_parsing_never_raises_anything_but_value_error(text: str) -> None:
    # Given any text / When read as any ECS ARN / Then it is an ARN or a ValueError, never another exception
    for kind in arns.ECS_RESOURCES:
        try:
            read = arns.ecs_arn(text, kind)
        except ValueError as exc:
            assert str(exc)
        else:
            assert text.startswith("arn:") and read.service == "ecs" and len(read.account) == 12
