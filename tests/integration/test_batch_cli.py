"""`dockhand jobs list | history | run` against the stack in moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from dockhand_cli import batch_cmds
from dockhand_cli.main import app
from tests.integration.batch_helpers import BatchWorld, tasks_stay_running

T1 = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)


@pytest.fixture
def world(stack: Any, function_env: Any, write_config: Any, lambda_context: Any) -> BatchWorld:
    with tasks_stay_running():
        yield BatchWorld(stack, function_env, write_config, lambda_context)


def test_jobs_list_shows_schedule_next_run_state_and_last_outcome(world: BatchWorld) -> None:
    # Given two jobs, one suspended, and a finished run of the first
    world.declare(world.job(), world.job(name="cleanup", schedule="rate(6 hours)", timezone="UTC", suspend=True))
    world.fire("report", T1)
    world.stop(world.tasks()[0]["taskArn"], 0)
    # When the jobs are listed
    result = CliRunner().invoke(app, ["jobs", "list", "--config", str(world.config_path)])
    # Then each job shows its schedule, zone, next run, deployed state and last outcome
    assert result.exit_code == 0, result.output
    report_line = next(line for line in result.output.splitlines() if " report " in line)
    cleanup_line = next(line for line in result.output.splitlines() if " cleanup " in line)
    assert "cron(0 2 * * ? *)" in report_line and "Europe/Berlin" in report_line
    assert "enabled" in report_line and "succeeded" in report_line
    assert "disabled" in cleanup_line and "rate(6 hours)" in cleanup_line
    # And the next run is the next 02:00 in Berlin, in UTC
    rows = batch_cmds.job_rows(world_config(world), datetime(2026, 7, 1, 12, tzinfo=UTC), None, None, world.group)
    assert rows[0]["next run (UTC)"] == "2026-07-02 00:00"  # 02:00 CEST
    assert rows[1]["next run (UTC)"] == "-"


def world_config(world: BatchWorld) -> Any:
    from dockhand.config import load_config

    return load_config(world.config_path)


def test_jobs_history_lists_runs_newest_first(world: BatchWorld) -> None:
    # Given a run that failed once and was retried
    world.declare(world.job(retries={"attempts": 2}))
    world.fire("report", T1)
    world.stop(world.tasks()[0]["taskArn"], 3)
    # When its history is shown
    result = CliRunner().invoke(app, ["jobs", "history", "report"])
    # Then the run, its attempt, status and exit code are there
    assert result.exit_code == 0, result.output
    run = world.runs()[0]
    line = next(line for line in result.output.splitlines() if run.run_id in line)
    assert "retrying" in line and " 3 " in line and "schedule" in line


def test_jobs_run_sends_a_run_now_request_that_launches(world: BatchWorld) -> None:
    # Given a declared job
    world.declare(world.job())
    # When a person runs it now (the queue is the stack's output BatchQueueUrl)
    result = CliRunner().invoke(app, ["jobs", "run", "report", "--config", str(world.config_path)])
    assert result.exit_code == 0, result.output
    # Then a run_now payload waits in the batch queue, and delivering it starts a run
    queue = world.stack.queue_url("BatchQueue")
    message = world.sqs.receive_message(QueueUrl=queue)["Messages"][0]
    body = json.loads(message["Body"])
    assert (body["action"], body["job"]) == ("run_now", "report")
    world.deliver(message["Body"])
    run = world.runs()[0]
    assert (run.trigger, run.status, run.run_id) == ("run_now", "running", body["run_id"])


def test_jobs_run_refuses_an_undeclared_job(world: BatchWorld) -> None:
    world.declare(world.job())
    result = CliRunner().invoke(app, ["jobs", "run", "ghost", "--config", str(world.config_path)])
    assert result.exit_code == 1
    assert "not declared" in result.output
