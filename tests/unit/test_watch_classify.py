"""Stop classification: every cause, the blamed container, and robustness over arbitrary task details."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockhand.config import WatchSection
from dockhand.events import TaskDetail, TaskStateChange
from dockhand.watch.classify import Cause, classify_stop, should_alert
from tests.support.events import load_event

ARN = "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef"
GENERIC = "Essential container in task exited"
OOM = "OutOfMemoryError: Container killed due to memory usage"


def task(
    stop_code: str | None, reason: str = "", containers: list[dict[str, Any]] | None = None, group: str = "service:api"
) -> TaskDetail:
    return TaskDetail.model_validate(
        {
            "taskArn": ARN,
            "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
            "lastStatus": "STOPPED",
            "group": group,
            "stopCode": stop_code,
            "stoppedReason": reason,
            "containers": containers or [],
            "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/api:7",
        }
    )


CASES = [
    ("app exit", task("EssentialContainerExited", GENERIC, [{"name": "app", "exitCode": 2}]), Cause.APP_EXIT),
    ("oom", task("EssentialContainerExited", GENERIC, [{"name": "app", "exitCode": 137, "reason": OOM}]), Cause.OOM),
    (
        "image pull",
        task(
            "TaskFailedToStart",
            "CannotPullContainerError: pull image manifest has been retried 5 times",
            [{"name": "app"}],
        ),
        Cause.IMAGE_PULL,
    ),
    (
        "resource init",
        task(
            "TaskFailedToStart",
            "ResourceInitializationError: unable to pull secrets or registry auth",
            [{"name": "app"}],
        ),
        Cause.STARTUP,
    ),
    (
        "eni timeout",
        task("TaskFailedToStart", "Timeout waiting for network interface provisioning to complete.", [{"name": "app"}]),
        Cause.STARTUP,
    ),
    ("capacity", task("TaskFailedToStart", "TaskFailedToStart: RESOURCE:GPU", []), Cause.CAPACITY),
    (
        "cannot start",
        task("TaskFailedToStart", "CannotStartContainerError: exec format error", [{"name": "app"}]),
        Cause.CONFIGURATION,
    ),
    (
        "elb",
        task(
            "ServiceSchedulerInitiated",
            "Task failed ELB health checks in (target-group arn:aws:elb…)",
            [{"name": "app", "exitCode": 143}],
        ),
        Cause.ELB_HEALTH,
    ),
    (
        "container health",
        task("ServiceSchedulerInitiated", "Task failed container health checks", [{"name": "app", "exitCode": 143}]),
        Cause.CONTAINER_HEALTH,
    ),
    (
        "spot",
        task("SpotInterruption", "Your Spot Task was interrupted.", [{"name": "app", "exitCode": 143}]),
        Cause.SPOT,
    ),
    ("spot notice", task("TerminationNotice", "Your Spot Task was interrupted."), Cause.SPOT),
    (
        "maintenance",
        task(
            "ServiceSchedulerInitiated",
            "ECS is performing maintenance on the underlying infrastructure hosting the task",
        ),
        Cause.MAINTENANCE,
    ),
    ("infrastructure health", task("InfrastructureHealth", "Host failed"), Cause.HOST_FAILURE),
    (
        "infrastructure health that mentions maintenance",
        task("InfrastructureHealth", "Task stopped: the host failed during maintenance", [{"name": "app"}]),
        Cause.HOST_FAILURE,
    ),
    (
        "scale in",
        task(
            "ServiceSchedulerInitiated",
            "Scaling activity initiated by (deployment ecs-svc/123)",
            [{"name": "app", "exitCode": 143}],
        ),
        Cause.SCALE_IN,
    ),
    ("user stop", task("UserInitiated", "Task stopped by user", [{"name": "app", "exitCode": 0}]), Cause.USER_STOP),
    (
        "clean exit",
        task("EssentialContainerExited", GENERIC, [{"name": "app", "exitCode": 0}], group="family:nightly"),
        Cause.CLEAN_EXIT,
    ),
    ("unknown code", task("SomethingNew", "who knows"), Cause.UNKNOWN),
    ("no code at all", task(None), Cause.UNKNOWN),
    ("missing exit code", task("EssentialContainerExited", GENERIC, [{"name": "app"}]), Cause.APP_EXIT),
]


@pytest.mark.parametrize(("name", "detail", "cause"), CASES, ids=[c[0] for c in CASES])
def test_each_stop_is_classified_by_its_real_cause(name: str, detail: TaskDetail, cause: Cause) -> None:
    # Given a stopped task of one known kind / When it is classified / Then the cause is the expected one
    assert classify_stop(detail).cause is cause


def test_the_cause_shows_the_container_reason_and_exit_code_not_the_generic_task_reason() -> None:
    # Given the sample crash of a two-container service task (sidecar exited 0, app exited 2)
    detail = TaskStateChange.model_validate(load_event("ecs-task-stopped-service-crash")).detail
    # When it is classified
    stop = classify_stop(detail)
    # Then the app container is blamed with its own exit code, and the generic reason is nowhere
    assert (stop.cause, stop.container, stop.exit_code) == (Cause.APP_EXIT, "app", 2)
    assert "Essential container" not in stop.summary()
    assert "app exited 2" in stop.summary()


def test_an_essential_container_is_blamed_before_a_sidecar() -> None:
    # Given a sidecar and the essential app both exited non-zero
    detail = task(
        "EssentialContainerExited", GENERIC, [{"name": "log-router", "exitCode": 1}, {"name": "app", "exitCode": 3}]
    )
    # When classified with the task definition's essential set / Then the essential one is blamed
    assert classify_stop(detail, essential={"app"}).container == "app"


def test_the_oom_reason_is_shown() -> None:
    detail = task("EssentialContainerExited", GENERIC, [{"name": "app", "exitCode": 137, "reason": OOM}])
    stop = classify_stop(detail)
    assert stop.exit_code == 137
    assert stop.reason.startswith("OutOfMemoryError")
    assert stop.severity == "error"


def test_an_infrastructure_health_stop_is_an_unplanned_host_failure_not_maintenance() -> None:
    # Given ECS stopped a task because its host failed (stop code InfrastructureHealth)
    detail = task("InfrastructureHealth", "Task stopped due to an underlying infrastructure issue")
    # When it is classified
    stop = classify_stop(detail)
    # Then it is named an unplanned host failure, in words, and never maintenance
    assert stop.label == "unplanned host failure"
    assert "maintenance" not in stop.summary()
    assert should_alert(stop, WatchSection()) is True


@pytest.mark.parametrize(
    ("cause", "flag"),
    [
        (Cause.SCALE_IN, "alert_on_scale_in"),
        (Cause.USER_STOP, "alert_on_user_stop"),
        (Cause.CLEAN_EXIT, "alert_on_clean_exit"),
    ],
)
def test_planned_and_clean_stops_alert_only_when_configured(cause: Cause, flag: str) -> None:
    detail = next(c[1] for c in CASES if c[2] is cause)
    stop = classify_stop(detail)
    # Given the default watch section / Then no alert; Given the flag on / Then an alert
    assert should_alert(stop, WatchSection()) is False
    assert should_alert(stop, WatchSection(**{flag: True})) is True


def test_failures_always_alert() -> None:
    for _, detail, cause in CASES:
        if cause not in (Cause.SCALE_IN, Cause.USER_STOP, Cause.CLEAN_EXIT):
            assert should_alert(classify_stop(detail), WatchSection()) is True


_text = st.text(max_size=80)
_container = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=20),
        "exitCode": st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)),
        "reason": st.one_of(st.none(), _text),
        "image": st.one_of(st.none(), _text),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    stop_code=st.one_of(
        st.none(),
        st.sampled_from(
            [
                "TaskFailedToStart",
                "EssentialContainerExited",
                "UserInitiated",
                "ServiceSchedulerInitiated",
                "SpotInterruption",
                "TerminationNotice",
                "InfrastructureHealth",
            ]
        ),
        _text,
    ),
    reason=st.one_of(st.none(), _text),
    containers=st.lists(_container, max_size=4),
    essential=st.one_of(st.none(), st.sets(st.text(max_size=20), max_size=3)),
)
def test_classification_never_raises_and_always_names_a_cause(
    stop_code: str | None, reason: str | None, containers: list[dict[str, Any]], essential: set[str] | None
) -> None:
    # Given any stop code, reason and containers (missing exit codes, empty lists, odd text)
    detail = TaskDetail.model_validate(
        {
            "taskArn": ARN,
            "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
            "stopCode": stop_code,
            "stoppedReason": reason,
            "containers": containers,
            "lastStatus": "STOPPED",
        }
    )
    # When classified / Then a cause comes back and the summary renders
    stop = classify_stop(detail, essential)
    assert isinstance(stop.cause, Cause)
    assert stop.summary()
    if containers:
        assert stop.container is not None
