"""Push-to-deploy: one ECR push → a new pinned task-definition revision → UpdateService, on every matching service.

Faithful (the copy carries every writable field and the tags), exactly once (each step recorded in a claim, and
what an interrupted attempt did found again, never done twice), never backwards (a push older than what runs is
skipped and said so, also where Dockhand never deployed: `running.py`), and frugal (services of one cluster are
described 10 at a time, their ledger rows read 100 at a time; services sharing a task definition share one new
revision). The flow, step by step: admission (`admission.py`), rollout (`rollout.py`), and what is told of each
service (`report.py`). A notification a channel failed never fails the push: it is retried by its own message.
"""

from __future__ import annotations

from typing import Any

from dockhand.config import DeployTarget
from dockhand.deploy.admission import (
    Admitted,
    accepted_targets,
    admit,
    by_cluster,
    described,
    ignored_reason,
    unreachable,
)
from dockhand.deploy.context import Deployer, Push
from dockhand.deploy.report import DeployReport
from dockhand.deploy.rollout import deploy_group, group_key
from dockhand.errors import AccountUnreachable
from dockhand.events import EcrImageAction
from dockhand.notify.delivery import NotDelivered
from dockhand.observability import count, logger

__all__ = ["Deployer", "deploy_push"]


def deploy_push(event: EcrImageAction, d: Deployer) -> DeployReport:
    """Deploy one push to every declared service whose tag policy takes it."""
    push = Push.from_event(event)
    report = DeployReport(push=push)
    ignored = ignored_reason(event)
    if ignored is not None:
        logger.info("push ignored", extra={"reason": ignored, "repository": push.repository, "digest": push.digest})
    elif not d.section.targets_for(push.repository):
        ignored = "unknown_repository"
        logger.info("no deploy target for this repository", extra={"repository": push.repository, "tag": push.tag})
    if ignored is not None:
        count("DeploySkipped", reason=ignored)
        report.ignored = ignored
        return report
    return roll_out(d, report, accepted_targets(d, report, d.section.targets_for(push.repository)))


def roll_out(d: Deployer, report: DeployReport, targets: list[DeployTarget]) -> DeployReport:
    """The push (or promotion) in `report` to the services of `targets`: admitted, rolled out, reported; in each
    account and Region through its own clients (a role that cannot be assumed fails that place's services)."""
    places: dict[tuple[str | None, str | None], list[DeployTarget]] = {}
    for target in targets:
        places.setdefault((target.account, target.region), []).append(target)
    for here in places.values():
        try:
            there = d.at(here[0], report.push)
        except AccountUnreachable as exc:
            unreachable(d, report, here, str(exc))
            continue
        _roll_out_here(there, report, here)
    _retry_undelivered(d, report)
    return report


def _roll_out_here(d: Deployer, report: DeployReport, targets: list[DeployTarget]) -> None:
    candidates = []
    for cluster, entries in by_cluster(targets).items():
        candidates += described(d, report, cluster, entries)
    admitted = admit(d, report, candidates)
    groups: dict[tuple[Any, ...], list[Admitted]] = {}
    for item in admitted:
        groups.setdefault(group_key(d, item), []).append(item)
    for group in groups.values():
        deploy_group(d, report, group)


def _retry_undelivered(d: Deployer, report: DeployReport) -> None:
    """Every service was handled; a notification a channel failed is retried by a message of its own, so that a
    channel's outage never holds back the pushes queued behind this one. Without that queue, the push message
    itself is retried for the notifications alone (delivered channels are skipped, and a redelivered push that
    already runs announces its start again)."""
    if not report.undelivered:
        return
    if d.retry_later is None:
        raise NotDelivered(f"notifications not delivered: {', '.join(report.undelivered)}")
    for key in report.undelivered:
        d.retry_later(key, report.retried[key])
