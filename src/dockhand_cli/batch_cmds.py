"""`dockhand jobs …`: the declared jobs with their next run and last outcome, a job's run history, and run-now.

They read the declarations file and talk to the stack (DOCKHAND_TABLE, DOCKHAND_SCHEDULE_GROUP,
DOCKHAND_BATCH_QUEUE_ARN, the usual AWS credentials and Region, AWS_ENDPOINT_URL for the local runtime).
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

from dockhand_cli.common import DEFAULT_CONFIG, DEFAULT_STACK, config_or_exit, stack_queue_url

console = Console()
err = Console(stderr=True)
jobs_app = typer.Typer(no_args_is_help=True, help="Scheduled ECS jobs: list, history, run now.")


def register(app: typer.Typer) -> None:
    """Add this wing's commands to the root app."""
    app.add_typer(jobs_app, name="jobs")


def _runs() -> Any:
    from dockhand import deps
    from dockhand.state.runs import Runs

    return Runs(deps.table())


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
) -> None:
    """The declared jobs: schedule, time zone, next run, schedule state and last outcome."""
    from dockhand import deps
    from dockhand.settings import settings

    cfg = config_or_exit(config)
    if not cfg.jobs:
        console.print("no jobs declared", highlight=False)
        return
    runs = None if offline else _runs()
    scheduler = None if offline else deps.client("scheduler")
    rows = job_rows(cfg, datetime.now(UTC), runs, scheduler, settings().schedule_group)
    out = RichTable(*rows[0].keys())
    for row in rows:
        out.add_row(*row.values())
    console.print(out)


# ------------------------------------------------------------------------------------------------ history


@jobs_app.command("history")
def jobs_history(
    name: str = typer.Argument(..., help="Job name"),
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=500),
) -> None:
    """Recent runs of a job, newest first: attempts, task, times, exit code, outcome."""
    runs = _runs().history(name, limit=limit)
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
            (r.reason or "")[:80],
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
    queue_url: str | None = typer.Option(
        None,
        "--queue-url",
        help="The batch queue (default: from DOCKHAND_BATCH_QUEUE_ARN, else the stack output BatchQueueUrl)",
    ),
    stack: str = typer.Option(DEFAULT_STACK, "--stack", help="The stack whose outputs give the queue"),
) -> None:
    """Run a job now (a new run, outside its schedule; its concurrency policy still applies)."""
    from dockhand import deps
    from dockhand.settings import settings

    cfg = config_or_exit(config)
    if cfg.job(name) is None:
        err.print(f"job {name!r} is not declared in {config}", highlight=False)
        raise typer.Exit(1)
    queue_url = stack_queue_url(queue_url, output="BatchQueueUrl", arn=settings().batch_queue_arn, stack=stack)
    body = run_now(name, deps.client("sqs"), queue_url)
    console.print(f"requested run {body['run_id']} of {name}; see `dockhand jobs history {name}`", highlight=False)
