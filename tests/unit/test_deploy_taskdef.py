"""Task-definition copies (pure): faithful, pinned, normalized, diffed."""

from __future__ import annotations

import copy
from typing import Any

import botocore.session
import pytest

from dockhand.deploy.taskdef import (
    READ_ONLY,
    TaskDefinitionError,
    clone_for_image,
    diff,
    normalize,
    register_payload,
    same_definition,
    writable_keys,
)

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
PIN = f"{ECR}/web@sha256:" + "a" * 64
WRITABLE = writable_keys(botocore.session.get_session().get_service_model("ecs"))


def described() -> dict[str, Any]:
    """A DescribeTaskDefinition `taskDefinition` as AWS returns it, read-only keys included."""
    return {
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7",
        "family": "web",
        "revision": 7,
        "status": "ACTIVE",
        "compatibilities": ["EC2", "FARGATE"],
        "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}],
        "registeredAt": "2026-11-01T10:00:00Z",
        "registeredBy": "arn:aws:iam::123456789012:role/ci",
        "containerDefinitions": [
            {
                "name": "web",
                "image": f"{ECR}/web:2.0.0",
                "cpu": 0,
                "essential": True,
                "portMappings": [],
                "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
                "secrets": [{"name": "DB", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/db"}],
            },
            {"name": "worker", "image": f"{ECR}/web-worker:2.0.0", "essential": False},
            {"name": "envoy", "image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1", "essential": False},
        ],
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "512",
        "memory": "1024",
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        "ephemeralStorage": {"sizeInGiB": 50},
        "proxyConfiguration": {
            "type": "APPMESH",
            "containerName": "envoy",
            "properties": [{"name": "IgnoredUID", "value": "1337"}],
        },
        "enableFaultInjection": True,
        "volumes": [{"name": "data", "host": {}}],
        "pidMode": "task",
        "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
    }


TAGS = [{"key": "team", "value": "payments"}, {"key": "aws:cloudformation:stack-name", "value": "x"}]


def test_writable_keys_come_from_the_botocore_model() -> None:
    assert {"family", "containerDefinitions", "runtimePlatform", "enableFaultInjection", "tags"} <= WRITABLE
    assert not READ_ONLY & WRITABLE


def test_clone_keeps_every_writable_field_and_pins_only_the_repository() -> None:
    # Given a rich task definition / When it is cloned for a push of `web`
    clone = clone_for_image(
        described(),
        TAGS,
        writable=WRITABLE,
        registry=ECR,
        repository="web",
        image=PIN,
        record={"tag": "2.1.0", "digest": "sha256:" + "a" * 64},
    )
    p = clone.payload
    # Then every writable field is there, read-only ones are not
    for key in (
        "runtimePlatform",
        "ephemeralStorage",
        "proxyConfiguration",
        "enableFaultInjection",
        "volumes",
        "pidMode",
        "executionRoleArn",
        "cpu",
        "memory",
        "networkMode",
        "requiresCompatibilities",
    ):
        assert p[key] == described()[key]
    assert not READ_ONLY & set(p)
    # And only `web` changed: the look-alike and the sidecar keep their images
    assert clone.containers == ("web",)
    assert [c["image"] for c in p["containerDefinitions"]] == [
        PIN,
        f"{ECR}/web-worker:2.0.0",
        "public.ecr.aws/appmesh/aws-appmesh-envoy:v1",
    ]
    assert p["containerDefinitions"][0]["secrets"] == described()["containerDefinitions"][0]["secrets"]
    # And user tags are carried (AWS-reserved ones cannot be), the push recorded
    assert p["tags"] == [
        {"key": "team", "value": "payments"},
        {"key": "dockhand:tag", "value": "2.1.0"},
        {"key": "dockhand:digest", "value": "sha256:" + "a" * 64},
    ]


def test_named_containers_change_whatever_their_image() -> None:
    clone = clone_for_image(
        described(), [], writable=WRITABLE, registry=ECR, repository="web", image=PIN, containers=["worker"]
    )
    assert clone.containers == ("worker",)
    assert clone.payload["containerDefinitions"][0]["image"] == f"{ECR}/web:2.0.0"


def test_unknown_key_fails_loudly() -> None:
    td = {**described(), "brandNewField": {"x": 1}}
    with pytest.raises(TaskDefinitionError) as err:
        clone_for_image(td, [], writable=WRITABLE, registry=ECR, repository="web", image=PIN)
    assert err.value.reason == "unknown_field"
    assert "brandNewField" in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [({"repository": "other"}, "no_matching_container"), ({"containers": ["ghost"]}, "container_not_found")],
)
def test_nothing_to_change_is_an_error(kwargs: dict[str, Any], reason: str) -> None:
    args = {"writable": WRITABLE, "registry": ECR, "repository": "web", "image": PIN, **kwargs}
    with pytest.raises(TaskDefinitionError) as err:
        clone_for_image(described(), [], **args)
    assert err.value.reason == reason


def test_normalize_ignores_order_defaults_and_units() -> None:
    # Given the same definition as the user wrote it and as ECS describes it
    written = register_payload(described(), TAGS, WRITABLE)
    echoed = copy.deepcopy(written)
    web = echoed["containerDefinitions"][0]
    web["environment"].reverse()
    del web["cpu"], web["essential"], web["portMappings"]
    echoed["cpu"], echoed["memory"] = "0.5 vCPU", "1 GB"
    echoed["containerDefinitions"].reverse()
    # Then they are the same definition
    assert same_definition(written, echoed)
    web_normal = next(c for c in normalize(written)["containerDefinitions"] if c["name"] == "web")
    assert [e["name"] for e in web_normal["environment"]] == ["A", "B"]


def test_repinned_same_image_is_unchanged_but_new_digest_is_not() -> None:
    td = described()
    td["containerDefinitions"][0]["image"] = PIN
    before = register_payload(td, TAGS, WRITABLE)
    same = clone_for_image(
        td, TAGS, writable=WRITABLE, registry=ECR, repository="web", image=PIN, record={"tag": "other-tag"}
    )
    assert same_definition(before, same.payload)
    other = clone_for_image(td, TAGS, writable=WRITABLE, registry=ECR, repository="web", image=PIN[:-1] + "b")
    assert not same_definition(before, other.payload)


def test_diff_is_readable() -> None:
    before = register_payload(described(), TAGS, WRITABLE)
    after = clone_for_image(
        described(), TAGS, writable=WRITABLE, registry=ECR, repository="web", image=PIN, record={"tag": "2.1.0"}
    ).payload
    assert diff(before, after) == [
        f"~ containerDefinitions[web].image: {ECR}/web:2.0.0 → {PIN}",
        '+ tags[dockhand:tag]: {"key": "dockhand:tag", "value": "2.1.0"}',
    ]
