"""`dockhand jobs …`: the declared jobs with their next run and last outcome, a job's run history, and run-now.

They read the declarations file and the stack's resources, found from the stack's outputs (`--stack`,
DOCKHAND_STACK): the state table, the schedule group and the batch queue. Times ("next run", a run-now's
scheduled time) are the stack's: the local runtime's clock when the stack is the local one.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table as RichTable

from dockhand_cli.common import DEFAULT_CONFIG, config_or_exit, stdout
from dockhand_cli.stack import RegionOption, StackOption, aws_errors, find_stack

err = Console(stderr=True)
jobs_app = typer.Typer(no_args_is_help=True, help="Scheduled ECS jobs: list, history, run now.")


def register(app: typer.Typer) -> None:
    """Add this wing's commands to the root app."""
    app.add_typer(jobs_app, name="jobs")


def _runs(table: Any) -> Any:
    from dockhand.state.runs import Runs

    return Runs(table)


def _aws_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    from dockhand.errors import RetryableError

    return (BotoCoreError, ClientError, RetryableError)


# --------------------------------------------------------------------------------------------------- list


def job_rows(cfg: Any, now: datetime, runs: Any | None, scheduler: Any | None, group: str) -> list[dict[str, str]]:
    """One row per declared job: schedule, time zone, next run (UTC), state, last outcome."""
    from dockhand.batch.schedules import job_schedule_states
    from dockhand.batch.spec import schedule_name
    from dockhand.schedule_expressions import next_fire

    deployed: dict[str, str] | None = None
    if scheduler is not None:
        try:
            deployed = job_schedule_states(scheduler, group)
        except _aws_errors():
            pass
    rows = []
    for job in cfg.jobs:
        state = "suspended" if job.suspend else "enabled"
        if deployed is not None:
            name = schedule_name(job)
            state = deployed[name].lower() if name in deployed else "not deployed"
        upcoming = None if job.suspend else next_fire(job.schedule, job.timezone, now)
        last = "-"
        if runs is not None:
            try:
                history = runs.history(job.name, limit=1)
                if history:
                    last = f"{history[0].status} ({history[0].run_id})"
            except _aws_errors():
                last = "?"
        rows.append(
            {
                "job": job.name,
                "schedule": job.schedule,
                "timezone": job.timezone,
                "next run (UTC)": upcoming.strftime("%Y-%m-%d %H:%M") if upcoming else "-",
                "state": state,
                "concurrency": job.concurrency,
                "last outcome": last,
            }
        )
    return rows


@jobs_app.command("list")
def jobs_list(
    config: Path = typer.Option(DEFAULT_CONFIG, "--config", help="The declarations file"),
    offline: bool = typer.Option(False, "--offline", help="Only the file: no schedule state, no history"),
    stack: str = StackOption,
    region: str | None = RegionOption,
) -> None:
    """The declared jobs: schedule, time zone, next run, schedule state and last outcome."""
    cfg = config_or_exit(config)
    console = stdout()
    if not cfg.jobs:
        console.print("no jobs declared", highlight=False)
        return
    if offline:
        rows = job_rows(cfg, datetime.now(UTC), None, None, "")
    else:
        found = find_stack(stack, region)
        rows = job_rows(
            cfg, found.now(), _runs(found.table()), found.client("scheduler"), found.output("ScheduleGroupName")
        )
    out = RichTable(*rows[0].keys())
    for row in rows:
        out.add_row(*row.values())
    console.print(out)


# ------------------------------------------------------------------------------------------------ history


@jobs_app.command("history")
def jobs_history(
    name: str = typer.Argument(..., help="Job name"),
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=500),
    stack: str = StackOption,
    region: str | None = RegionOption,
) -> None:
    """Recent runs of a job, newest first: attempts, task, times, exit code, outcome."""
    found = find_stack(stack, region)
    with aws_errors(found, f"cannot read the runs of {name}"):
        runs = _runs(found.table()).history(name, limit=limit)
    console = stdout()
    if not runs:
        console.print(f"no recorded runs of {name}", highlight=False)
        return
    out = RichTable("run", "trigger", "attempt", "status", "scheduled", "started", "stopped", "exit", "task", "reason")
    for r in runs:
        out.add_row(
            r.run_id,
            r.trigger,
            str(r.attempt),
            r.status,
            r.scheduled_time or "",
            r.started_at or "",
            r.stopped_at or "",
            "" if r.exit_code is None else str(r.exit_code),
            (r.task_arn or "").rsplit("/", 1)[-1],
            r.reason or "",
        )
    console.print(out)


# ----------------------------------------------------------------------------------------------- run now


def run_now(job: str, sqs_client: Any, queue_url: str, now: datetime | None = None) -> dict[str, Any]:
    """Send a run_now payload to the batch queue; the batch function applies the job's concurrency policy."""
    from dockhand.events import SchedulePayload

    now = now or datetime.now(UTC)
    token = uuid.uuid4().hex[:8]
    payload = SchedulePayload(
        action="run_now",
        job=job,
        run_id=f"{now:%Y%m%dT%H%M%SZ}-now-{token}",
        scheduled_time=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        execution_id=f"cli-{token}",
    )
    body = payload.model_dump(exclude_none=True)
    sqs_client.send_message(QueueUrl=queue_url, MessageBody=json.dumps(body, sort_keys=True))
    return body


@jobs_app.command("run")
def jobs_run(
    name: str = typer.Argument(..., help="Job name"),
    config: Path = typer.Option(DEFAULT_CONFIG, "--config", help="The declarations file"),
    stack: str = StackOption,
    region: str | None = RegionOption,
) -> None:
    """Run a job now (a new run, outside its schedule; its concurrency policy still applies)."""
    cfg = config_or_exit(config)
    if cfg.job(name) is None:
        err.print(f"job {name!r} is not declared in {config}", highlight=False)
        raise typer.Exit(1)
    found = find_stack(stack, region)
    queue_url = found.output("BatchQueueUrl")
    with aws_errors(found, f"cannot send the run of {name} to {queue_url}"):
        body = run_now(name, found.client("sqs"), queue_url, found.now())
    stdout().print(f"requested run {body['run_id']} of {name}; see `dockhand jobs history {name}`", highlight=False)
