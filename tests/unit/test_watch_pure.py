"""Pure pieces of the watch wing: links, backoff, restart parameters, deploy outcomes, routing, Block Kit."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockhand.config import NotificationsSection, RestartPolicy, Route
from dockhand.errors import BadInputError
from dockhand.events import DeploymentStateChange, TaskDetail
from dockhand.links import log_link, service_link
from dockhand.notify.model import Link, Notification
from dockhand.notify.notifier import route_channels
from dockhand.notify.slack import blocks_for
from dockhand.state.restarts import client_token, parse_started_by, started_by
from dockhand.watch.deployments import deploy_notification, deployment_outcome
from dockhand.watch.restarts import backoff_seconds, restart_params
from tests.support.events import load_event

TASKDEF = {
    "family": "api",
    "networkMode": "awsvpc",
    "containerDefinitions": [
        {
            "name": "app",
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": "/ecs/api", "awslogs-stream-prefix": "svc", "awslogs-region": "eu-west-1"},
            },
        },
        {"name": "nolog"},
        {"name": "noprefix", "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g"}}},
        {"name": "fluent", "logConfiguration": {"logDriver": "awsfirelens"}},
    ],
}


def test_log_link_points_at_the_containers_stream() -> None:
    url = log_link(TASKDEF, "app", "abc123", "us-east-1")
    assert url == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/"
        "log-group/$252Fecs$252Fapi/log-events/svc$252Fapp$252Fabc123"
    )


@pytest.mark.parametrize(("container", "expected"), [("nolog", None), ("fluent", None), ("missing", None)])
def test_no_log_link_without_awslogs(container: str, expected: None) -> None:
    assert log_link(TASKDEF, container, "t", "us-east-1") is expected


def test_without_a_prefix_the_group_is_linked() -> None:
    assert log_link(TASKDEF, "noprefix", "t", "us-east-1").endswith("log-group/g")


def test_service_links_open_the_services_tab() -> None:
    assert service_link("prod", "web", "events", "eu-west-1") == (
        "https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/prod/services/web/events?region=eu-west-1"
    )


def test_an_unknown_deployment_names_its_cluster_and_service_from_the_arn() -> None:
    # Given a deployment event the ledger has no record of (service/default/servicetest in us-west-2)
    event = DeploymentStateChange.model_validate(load_event("ecs-deployment-failed"))
    # When its notification is built
    n = deploy_notification(event, "ROLLED_BACK", None, "eu-west-1")
    # Then cluster and service come from the service ARN, and the link opens that service's deployments
    assert (n.cluster, n.service) == ("default", "servicetest")
    assert n.links[0].url == service_link("default", "servicetest", "deployments", "us-west-2")


def test_backoff_grows_exponentially_and_is_capped() -> None:
    policy = RestartPolicy(backoff_seconds=30, backoff_multiplier=2, max_backoff_seconds=100)
    assert [backoff_seconds(policy, n) for n in (1, 2, 3, 4)] == [30, 60, 100, 100]


@given(chain=st.text(alphabet="0123456789abcdef", min_size=12, max_size=12), attempt=st.integers(1, 20))
def test_started_by_and_client_token_fit_the_api_limits(chain: str, attempt: int) -> None:
    value = started_by(chain, attempt)
    assert len(value) <= 36
    assert parse_started_by(value) == (chain, attempt)
    assert len(client_token(chain, attempt)) <= 64


@pytest.mark.parametrize(
    "value", [None, "", "ecs-svc/1", "dockhand-restart/", "dockhand-restart/x/abc", "dockhand-restart/1"]
)
def test_other_started_by_values_are_not_restarts(value: str | None) -> None:
    assert parse_started_by(value) is None


def _task(**over: Any) -> TaskDetail:
    return TaskDetail.model_validate(
        {
            "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/batch/abc",
            "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/batch",
            "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/nightly:3",
            "group": "family:nightly",
            "launchType": "FARGATE",
            "platformVersion": "1.4.0",
            "lastStatus": "STOPPED",
            "overrides": {
                "containerOverrides": [{"name": "job", "command": ["run"]}],
                "inferenceAcceleratorOverrides": [],
            },
            "tags": [{"key": "team", "value": "data"}, {"key": "aws:ecs:clusterName", "value": "batch"}],
            **over,
        }
    )


def test_restart_params_reuse_the_stopped_tasks_launch() -> None:
    policy = RestartPolicy(network={"subnets": ["subnet-1"], "security_groups": ["sg-1"]})
    params = restart_params(_task(), TASKDEF, policy, "chain0000001", 2)
    assert params == {
        "cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/batch",
        "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/nightly:3",
        "group": "family:nightly",
        "startedBy": "dockhand-restart/2/chain0000001",
        "clientToken": "dockhand-chain0000001-2",
        "count": 1,
        "overrides": {"containerOverrides": [{"name": "job", "command": ["run"]}]},
        "launchType": "FARGATE",
        "platformVersion": "1.4.0",
        "tags": [{"key": "team", "value": "data"}],
        "networkConfiguration": {
            "awsvpcConfiguration": {"subnets": ["subnet-1"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}
        },
    }


def test_a_capacity_provider_task_keeps_its_provider() -> None:
    params = restart_params(
        _task(launchType=None, capacityProviderName="FARGATE_SPOT"), {"networkMode": "bridge"}, RestartPolicy(), "c", 1
    )
    assert params["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    assert "launchType" not in params and "networkConfiguration" not in params


def test_an_awsvpc_restart_without_a_network_is_refused() -> None:
    with pytest.raises(BadInputError, match=r"watch\.restart\.network"):
        restart_params(_task(), TASKDEF, RestartPolicy(), "c", 1)


@pytest.mark.parametrize(
    ("name", "reason", "outcome"),
    [
        ("SERVICE_DEPLOYMENT_COMPLETED", "done", "COMPLETED"),
        ("SERVICE_DEPLOYMENT_FAILED", "ECS deployment circuit breaker: task failed to start.", "ROLLED_BACK"),
        (
            "SERVICE_DEPLOYMENT_IN_PROGRESS",
            "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1.",
            "ROLLED_BACK",
        ),
        ("SERVICE_DEPLOYMENT_IN_PROGRESS", "ECS deployment ecs-svc/1 in progress.", None),
        ("SERVICE_SOMETHING_NEW", None, None),
    ],
)
def test_deployment_outcomes(name: str, reason: str | None, outcome: str | None) -> None:
    assert deployment_outcome(name, reason) == outcome


def _n(**over: Any) -> Notification:
    return Notification(
        **{"kind": "task_failed", "severity": "error", "title": "t", "cluster": "prod", "service": "api", **over}
    )


@pytest.mark.parametrize(
    ("routes", "note", "channels"),
    [
        ([], _n(), ["slack", "sns"]),
        ([{"kinds": ["deploy_completed"], "channels": ["sns"]}], _n(), ["slack", "sns"]),
        ([{"kinds": ["task_failed"], "channels": ["sns"]}], _n(), ["sns"]),
        ([{"severities": ["info"], "channels": ["sns"]}, {"channels": ["slack"]}], _n(), ["slack"]),
        (
            [
                {"clusters": ["staging"], "channels": ["sns"]},
                {"clusters": ["prod"], "services": ["api"], "channels": ["slack"]},
            ],
            _n(),
            ["slack"],
        ),
        ([{"jobs": ["nightly"], "channels": ["sns"]}], _n(service=None, job="nightly"), ["sns"]),
        ([{"kinds": ["task_failed"], "channels": ["slack"]}], _n(), ["slack"]),
    ],
)
def test_routes_first_match_wins_else_every_channel(
    routes: list[dict[str, Any]], note: Notification, channels: list[str]
) -> None:
    section = NotificationsSection(routes=[Route(**r) for r in routes])
    assert route_channels(section, note, ["slack", "sns"]) == channels


def test_block_kit_layout_holds_fields_and_links_within_slack_limits() -> None:
    note = _n(
        text="body",
        fields={f"k{i}": "v" for i in range(13)},
        links=[Link(label=f"l{i}", url=f"https://x/{i}") for i in range(7)],
    )
    blocks = blocks_for(note)
    assert blocks[0]["type"] == "header"
    sections = [b for b in blocks if b["type"] == "section" and "fields" in b]
    assert [len(s["fields"]) for s in sections] == [10, 3]
    assert len(blocks[-1]["elements"]) == 5
