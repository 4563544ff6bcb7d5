"""The template's rule patterns, as the local runtime routes them: every sample event reaches exactly its functions.

moto's test_event_pattern is a stub, so each event goes the deployed way: put_events on the bus, the template's
rules put it on the SQS queues, the runtime's pump hands each queue to its function.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockhand_local.runtime import Runtime, RuntimeOptions
from dockhand_local.stack import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local-runtime")]

SAMPLES = sorted({p.name: p for p in (ROOT / "events").glob("*.json")}.values(), key=lambda p: p.name)

DEPLOYER, WATCHER, BATCH = "DeployerFunction", "WatcherFunction", "BatchFunction"

# Written from what each pattern means, not from running it.
EXPECTED: dict[str, set[str]] = {
    # DeployPushRule: a successful, tagged push only.
    "ecr-image-push.json": {DEPLOYER},
    "ecr-image-delete.json": set(),  # action-type DELETE
    "ecr-image-push-oci-untagged-child.json": set(),  # image-tag "" (an index child)
    "ecr-image-push-semver.json": {DEPLOYER},
    "ecr-image-push-failure.json": set(),  # result FAILURE
    # WatchDeploymentRule: every deployment state change.
    "ecs-deployment-in-progress.json": {WATCHER},
    "ecs-deployment-completed.json": {WATCHER},
    "ecs-deployment-failed.json": {WATCHER},
    "ecs-deployment-rollback.json": {WATCHER},
    # WatchServiceRule: WARN and ERROR service actions, not INFO.
    "ecs-service-action-placement-failure.json": {WATCHER},
    "ecs-service-action-start-impaired.json": {WATCHER},
    "ecs-service-action-steady-state.json": set(),
    # Task state changes: STOPPED only; job tasks (startedBy dockhand-job/…) go to batch and only there.
    "ecs-task-spot-termination-notice.json": set(),  # RUNNING
    "ecs-task-standalone-deprovisioning.json": set(),  # DEPROVISIONING
    "ecs-task-stopped-service-crash.json": {WATCHER},
    "ecs-task-stopped-oom.json": {WATCHER},
    "ecs-task-stopped-capacity.json": {WATCHER},
    "ecs-task-stopped-container-health.json": {WATCHER},
    "ecs-task-stopped-elb-health.json": {WATCHER},
    "ecs-task-stopped-image-pull.json": {WATCHER},
    "ecs-task-stopped-maintenance.json": {WATCHER},
    "ecs-task-stopped-resource-init.json": {WATCHER},
    "ecs-task-stopped-scale-in.json": {WATCHER},
    "ecs-task-stopped-spot-interruption.json": {WATCHER},
    "ecs-task-stopped-unknown.json": {WATCHER},
    "ecs-task-stopped-user.json": {WATCHER},
    "ecs-task-stopped-clean-exit.json": {WATCHER},  # startedBy "nightly-report": not a Dockhand job run
    "ecs-task-stopped-app-exit-standalone.json": {WATCHER},
    "ecs-task-stopped-no-started-by.json": {WATCHER},  # no startedBy at all: still the watcher's
    "ecs-task-stopped-job.json": {BATCH},
    # Schedule payloads: EventBridge Scheduler sends them to the batch queue (no rule involved).
    "schedule-launch.json": {BATCH},
    "schedule-retry.json": {BATCH},
    "schedule-deadline.json": {BATCH},
    "schedule-run-now.json": {BATCH},
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    state = tmp_path_factory.mktemp("local")
    options = RuntimeOptions(
        config_path=ROOT / "config" / "dockhand.yaml",
        state_dir=state,
        pump=False,
        speed=1.0,
        handler_log=state / "handlers.log",
    )
    with Runtime(options) as rt:
        yield rt


def test_every_sample_event_has_an_expectation() -> None:
    # Given the sample events / When listing them / Then each one has a hand-written routing expectation
    missing = sorted({p.name for p in SAMPLES} - set(EXPECTED))
    assert not missing, f"add these samples to EXPECTED: {missing}"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_event_reaches_exactly_its_functions(runtime: Runtime, sample: Path) -> None:
    # Given a sample event, as AWS would put it on the default bus
    event = json.loads(sample.read_text(encoding="utf-8"))
    delivered_before = len(runtime.deliveries)

    # When it is put on the bus (a schedule payload: fired by a one-time schedule targeting the batch queue)
    # and the pump drains every function queue
    event_id = runtime.put_event(event) if "detail-type" in event else _fire_schedule(runtime, sample.stem, event)
    runtime.deliver_pending()

    # Then exactly the expected functions received it, once each (a function that failed on the sample gets it again
    # from its queue: that is a redelivery, not a second route), unchanged
    received = [d for d in runtime.deliveries[delivered_before:] if _id_of(d.body) == event_id]
    assert {d.function for d in received} == EXPECTED[sample.name]
    routed = [d for i, d in enumerate(received) if not any(e.function == d.function and e.failed for e in received[:i])]
    assert len(routed) == len(EXPECTED[sample.name])
    for delivery in received:
        if "detail-type" in event:
            assert delivery.body["detail"] == event["detail"]
            assert delivery.body["detail-type"] == event["detail-type"]
        else:
            assert {k: v for k, v in delivery.body.items() if k != "execution_id"} == {
                k: v for k, v in event.items() if k != "execution_id"
            }


def _fire_schedule(runtime: Runtime, name: str, payload: dict[str, object]) -> str:
    """Create a one-time schedule (in the past, so due now) whose Input is the payload; return its marker."""
    assert runtime.stack is not None
    marker = f"routing-{name}"
    runtime.client("scheduler").create_schedule(
        Name=marker,
        GroupName=runtime.stack.physical["ScheduleGroup"],
        ScheduleExpression="at(2026-01-01T00:00:00)",
        FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target={
            "Arn": runtime.stack.arns["BatchQueue"],
            "RoleArn": runtime.stack.arns["SchedulerRole"],
            "Input": json.dumps({**payload, "execution_id": marker}),
        },
    )
    assert runtime.fire_due_schedules() >= 1
    return marker


def _id_of(body: dict[str, object]) -> object:
    return body.get("id") or body.get("execution_id")
