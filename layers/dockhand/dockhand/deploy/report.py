"""What a deploy tells: one outcome per service, and for each kind of outcome one function that logs it, counts it,
adds it to the report and notifies it. A channel that fails is remembered on the report (the push retries it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypedDict

from dockhand.arns import last_part
from dockhand.config import Kind, Severity
from dockhand.deploy.context import Deployer, Push
from dockhand.errors import RetryableError
from dockhand.notify.delivery import deliver
from dockhand.notify.model import Notification
from dockhand.observability import count, logger

Action = Literal["updated", "skipped", "failed", "planned"]


@dataclass(kw_only=True)
class Outcome:
    """What happened (or, in a dry run, would happen) to one service."""

    cluster: str
    service: str
    target: str
    action: Action
    reason: str = ""
    service_arn: str = ""
    previous_task_definition: str | None = None
    task_definition: str | None = None
    image: str | None = None
    containers: tuple[str, ...] = ()
    deployment_id: str | None = None
    diff: list[str] = field(default_factory=list)


class OutcomeDetails(TypedDict, total=False):
    """What an outcome may add to its service and action."""

    previous_task_definition: str | None
    task_definition: str | None
    image: str | None
    containers: tuple[str, ...]
    deployment_id: str | None
    diff: list[str]


@dataclass
class DeployReport:
    push: Push
    outcomes: list[Outcome] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)
    ignored: str | None = None
    undelivered: list[str] = field(default_factory=list)  # notification keys a channel failed
    retried: dict[str, Notification] = field(default_factory=dict)  # those notifications, by key

    def by_action(self, action: Action) -> list[Outcome]:
        return [o for o in self.outcomes if o.action == action]


def services_of(outcomes: list[Outcome], action: Action) -> list[str]:
    return [o.service for o in outcomes if o.action == action]


def _extra(outcome: Outcome) -> dict[str, str]:
    return {"reason": outcome.reason, "service_arn": outcome.service_arn or outcome.service, "cluster": outcome.cluster}


def skipped(d: Deployer, report: DeployReport, outcome: Outcome, why: str) -> None:
    """A service skipped for a reason worth telling (held, older, not found …)."""
    logger.warning("deploy skipped", extra={**_extra(outcome), "detail": why})
    count("DeploySkipped", reason=outcome.reason)
    report.outcomes.append(outcome)
    title = f"Skipped {report.push.image} on {outcome.service}"
    _notify(d, report, outcome, kind="deploy_skipped", severity="warning", title=title, text=why)


def failed(d: Deployer, report: DeployReport, outcome: Outcome, why: str) -> None:
    """A service the push could not be deployed to."""
    logger.error("deploy failed", extra={**_extra(outcome), "error": why})
    count("DeployFailed", reason=outcome.reason)
    report.outcomes.append(outcome)
    title = f"Could not deploy {report.push.image} to {outcome.service}"
    _notify(d, report, outcome, kind="deploy_failed", severity="error", title=title, text=why)


def quietly_skipped(report: DeployReport, outcome: Outcome, message: str, extra: Mapping[str, object]) -> None:
    """A skip nobody needs to hear about (already running, unchanged): logged and counted only."""
    logger.info(message, extra=dict(extra))
    count("DeploySkipped", reason=outcome.reason)
    report.outcomes.append(outcome)


def planned(d: Deployer, report: DeployReport, outcome: Outcome) -> None:
    """A dry run: what would be deployed, with the task-definition diff."""
    logger.info(
        "dry run: would deploy",
        extra={"service_arn": outcome.service_arn, "image": outcome.image, "diff": outcome.diff},
    )
    count("DeploySkipped", reason="dry_run")
    report.outcomes.append(outcome)
    title = f"Dry run: would deploy {report.push.image} to {outcome.service}"
    _notify(d, report, outcome, kind="deploy_skipped", severity="info", title=title, text="\n".join(outcome.diff))


def started(d: Deployer, report: DeployReport, outcome: Outcome, note: str = "") -> None:
    """UpdateService took the new revision: logged, counted, reported and announced (with `note`, when the
    order of the push could not be known and a rule decided)."""
    logger.info(
        "deploy started",
        extra={
            "service_arn": outcome.service_arn,
            "image": outcome.image,
            "task_definition": outcome.task_definition,
            "previous": outcome.previous_task_definition,
            "deployment_id": outcome.deployment_id,
        },
    )
    count("DeployStarted")
    report.outcomes.append(outcome)
    announce_start(d, report, outcome, note)


def announce_start(d: Deployer, report: DeployReport, outcome: Outcome, note: str = "") -> None:
    """The deploy's start, keyed by its deployment so the watcher's outcome later updates the same message."""
    title = f"Deploying {report.push.image} to {outcome.service}"
    update_key = f"deploy/{outcome.deployment_id}" if outcome.deployment_id else None
    _notify(d, report, outcome, kind="deploy_started", severity="info", title=title, text=note, update_key=update_key)


def _notify(
    d: Deployer,
    report: DeployReport,
    outcome: Outcome,
    *,
    kind: Kind,
    severity: Severity,
    title: str,
    text: str = "",
    update_key: str | None = None,
) -> None:
    if d.notifier is None:
        return
    push = report.push
    note = Notification(
        kind=kind,
        severity=severity,
        title=title,
        text=text,
        fields=_fields(push, outcome),
        cluster=outcome.cluster,
        service=outcome.service,
        update_key=update_key,
    )
    key = f"push/{push.event_id}/{outcome.service_arn or f'{outcome.cluster}/{outcome.service}'}/{kind}"
    if outcome.action == "planned":
        # A dry run writes nothing, delivery claims included: a failed channel is logged and counted, not retried.
        deliver(d.notifier, None, key, note)
        return
    try:
        failed = deliver(d.notifier, d.deliveries, key, note)
    except RetryableError as exc:  # the delivery's own bookkeeping failed: its retry message finishes it
        logger.warning("notification not finished; it will be retried", extra={"key": key, "error": str(exc)})
        failed = ["?"]
    if failed:
        report.undelivered.append(key)
        report.retried[key] = note


def _fields(push: Push, outcome: Outcome) -> dict[str, str]:
    fields = {"image": push.image, "digest": push.digest, "cluster": outcome.cluster, "service": outcome.service}
    if outcome.previous_task_definition:
        fields["from"] = last_part(outcome.previous_task_definition)
    if outcome.task_definition and outcome.task_definition != outcome.previous_task_definition:
        fields["to"] = last_part(outcome.task_definition)
    if outcome.deployment_id:
        fields["deployment"] = outcome.deployment_id
    if outcome.reason:
        fields["reason"] = outcome.reason
    return fields
