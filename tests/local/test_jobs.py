"""Job tasks in the local runtime: a scripted run time on the local clock, and a task Dockhand stopped (its
deadline) ends there — the runtime never stops it a second time with its own exit code."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dockhand.state.runs import Runs
from dockhand.state.table import Table
from dockhand_cli.batch_cmds import run_now
from dockhand_local.runtime import Runtime, RuntimeOptions
from tests.support.local import register_fargate_family, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local-runtime")]

JOB = "slow-monthly-report"  # longer than the part of a job name startedBy keeps


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime at wall speed whose one job (Forbid, 10 minutes at most) runs on Fargate in a named network."""
    job = {
        "name": JOB,
        "schedule": "cron(0 3 * * ? *)",
        "timezone": "UTC",
        "cluster": "jobs",
        "task_definition": "slow-report",
        "launch_type": "FARGATE",
        "network": {"subnets": ["subnet-jobs"], "security_groups": ["sg-jobs"]},
        "max_runtime_minutes": 10,
        "notify_on": ["failure", "success"],
    }
    config = tmp_path / "dockhand.yaml"
    config.write_text(yaml.safe_dump({"version": 1, "jobs": [job]}), encoding="utf-8")
    options = RuntimeOptions(
        config_path=config, state_dir=tmp_path / "state", speed=1.0, slack=False, handler_log=tmp_path / "h.log"
    )
    with Runtime(options) as rt:
        ecs = rt.client("ecs")
        ecs.create_cluster(clusterName="jobs")
        register_fargate_family(ecs, "slow-report")
        yield rt


def _stops_seen_by_batch(rt: Runtime) -> list[dict[str, Any]]:
    return [
        d.body["detail"]
        for d in rt.deliveries
        if d.function == "BatchFunction" and d.body.get("detail-type") == "ECS Task State Change"
    ]


def _run(rt: Runtime) -> Any:
    assert rt.stack is not None
    table = Table(rt._session.resource("dynamodb", endpoint_url=rt.endpoint), rt.stack.table_name)
    history = Runs(table).history(JOB, limit=1)
    return history[0] if history else None


def _deadline_scheduled(rt: Runtime) -> bool:
    """Whether the batch function made the run's deadline schedule (it does so after recording the launch)."""
    assert rt.stack is not None
    group = rt.stack.physical["ScheduleGroup"]
    names = [s["Name"] for s in rt.client("scheduler").list_schedules(GroupName=group)["Schedules"]]
    return any(name.startswith("dockhand-deadline-") for name in names)


def _start_run(rt: Runtime, planned: str) -> None:
    """Script the job's next task, ask for a run now, and wait until its task runs."""
    assert rt.stack is not None
    rt.plan_job_exits(JOB, [planned])
    run_now(JOB, rt.client("sqs"), rt.stack.queue_url("BatchQueue"), rt.clock.now())
    wait_until(lambda: _run(rt) and _run(rt).status == "running", "the launch")


def test_a_job_task_runs_for_its_scripted_time(runtime: Runtime) -> None:
    # Given the job's next task exits 3 after 5 minutes of the local clock
    # When a run starts
    _start_run(runtime, "3:5m")

    # Then after 4 minutes it still runs, and after 5 it has stopped with exit code 3
    runtime.clock.advance(4 * 60)
    time.sleep(0.5)
    assert _stops_seen_by_batch(runtime) == []
    runtime.clock.advance(60)
    (stop,) = wait_until(lambda: _stops_seen_by_batch(runtime), "the task's end")
    assert stop["containers"][0]["exitCode"] == 3
    assert wait_until(lambda: _run(runtime).status == "failed", "the run's failure")


def test_a_task_stopped_at_its_deadline_is_not_stopped_again(runtime: Runtime) -> None:
    # Given the job's next task would run 30 minutes, and the job may run 10
    _start_run(runtime, "0:30m")

    # When the local clock passes the deadline (Dockhand stops the task), then the task's own end
    wait_until(lambda: _deadline_scheduled(runtime), "the deadline's schedule")
    runtime.clock.advance(11 * 60)
    (stop,) = wait_until(lambda: _stops_seen_by_batch(runtime), "the deadline's stop")
    assert wait_until(lambda: _run(runtime).status == "timed_out", "the run timed out")
    runtime.clock.advance(30 * 60)
    time.sleep(1.0)
    runtime.deliver_pending()

    # Then the task stopped once, as StopTask stops it (its reason, SIGTERM's exit code), and never with exit 0
    assert stop["stopCode"] == "UserInitiated" and stop["containers"][0]["exitCode"] == 143
    assert stop["stoppedReason"] == "Dockhand: maximum runtime of 10 minutes reached"
    assert [s["taskArn"] for s in _stops_seen_by_batch(runtime)] == [stop["taskArn"]]
    assert not [e for e in runtime.timeline if "task stopped, exit code 0" in e.text]
    assert _run(runtime).status == "timed_out"
