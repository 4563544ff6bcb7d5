"""A finished run's notification. What it says comes from the run record alone, so a redelivered message
announces exactly what the first delivery did (and only on the channels that missed it)."""

from __future__ import annotations

from dockhand.arns import last_part
from dockhand.batch.context import BatchContext
from dockhand.config import Job, Kind, Severity
from dockhand.links import task_link
from dockhand.notify.delivery import deliver_or_retry
from dockhand.notify.model import Link, Notification
from dockhand.state.runs import RunRecord

# run status → (notify_on entry, kind, severity, title after "Job <name>")
_ANNOUNCED: dict[str, tuple[str, Kind, Severity, str]] = {
    "succeeded": ("success", "job_succeeded", "info", " succeeded"),
    "failed": ("failure", "job_failed", "error", " failed"),
    "timed_out": ("failure", "job_timed_out", "error", " timed out"),
    "skipped": ("skipped", "job_skipped", "warning", ": run skipped"),
}


def announce(ctx: BatchContext, job: Job, run: RunRecord) -> None:
    """Notify a finished attempt, if the job asks for it; a channel that fails makes the message retry."""
    if run.status not in _ANNOUNCED:
        return
    when, kind, severity, title = _ANNOUNCED[run.status]
    if when not in job.notify_on:
        return
    if run.status == "failed" and not run.task_arn:
        title = " could not start"
    fields = {"run": run.run_id, "attempt": f"{run.attempt} of {job.retries.attempts}", "cluster": job.cluster}
    if run.exit_code is not None and run.status in ("succeeded", "failed"):
        fields["exit code"] = str(run.exit_code)
    links = []
    if run.task_arn and run.status != "skipped":
        task_id = last_part(run.task_arn)
        fields["task"] = task_id
        links.append(Link(label="Task", url=task_link(job.cluster, task_id, ctx.region)))
    note = Notification(
        kind=kind,
        severity=severity,
        title=f"Job {job.name}{title}",
        text=run.reason or "",
        fields=fields,
        links=links,
        cluster=job.cluster,
        job=job.name,
        thread_key=f"job:{job.name}:{run.run_id}",
    )
    deliver_or_retry(ctx.notifier, ctx.deliveries, f"job/{job.name}/{run.run_id}/{run.attempt}/{run.status}", note)
