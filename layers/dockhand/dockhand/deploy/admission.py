"""Admission: which services a push goes to, and the claim that makes each deploy happen once.

Targets whose tag policy refuses the tag are skipped; a held digest is skipped and said so; the services are
described (10 per call) and their ledger rows read (one BatchGetItem per 100). What runs on each service is
known from its row, or from the revision it runs (`running.py`); a push older than that is skipped, in the
policy's language. A service the push goes to is claimed for the push (`deploy:<service arn>@<row version>`,
owned by the push's event id, so a redelivery or a redrive of the push resumes it); another push holding the
service makes this one wait (retryable), in arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Unpack

from dockhand.arns import last_part
from dockhand.config import DeployTarget
from dockhand.deploy import policy, report
from dockhand.deploy.context import Deployer
from dockhand.deploy.report import Action, DeployReport, Outcome, OutcomeDetails
from dockhand.deploy.running import Running, from_revision, from_row, judge
from dockhand.errors import RetryableError
from dockhand.events import EcrImageAction
from dockhand.observability import count, logger
from dockhand.state.claims import Claim, Claims
from dockhand.state.ledger import LedgerRow

SCOPE = "deploy"


@dataclass
class Admitted:
    """A service this push goes to, with its ledger row and its claim (None in a dry run or without a ledger)."""

    target: DeployTarget
    service: dict[str, Any]
    row: LedgerRow
    claim: Claim | None = None
    caveat: str = ""  # what the start's notification must say (the order could not be known)

    @property
    def name(self) -> str:
        return str(self.service["serviceName"])

    @property
    def arn(self) -> str:
        return str(self.service["serviceArn"])

    @property
    def cluster(self) -> str:
        return last_part(str(self.service.get("clusterArn", "")))

    @property
    def resumed(self) -> bool:
        return self.claim is not None and self.claim.state == "resumed"

    def outcome(self, action: Action, reason: str = "", **details: Unpack[OutcomeDetails]) -> Outcome:
        """What happened to this service: `action` for `reason`, with the details the step knows."""
        return outcome_of(self.target, self.service, action, reason, **details)


def outcome_of(
    target: DeployTarget, svc: dict[str, Any], action: Action, reason: str = "", **details: Unpack[OutcomeDetails]
) -> Outcome:
    """What happened to a described service: `action` for `reason`, with the details the step knows."""
    return Outcome(
        cluster=last_part(str(svc.get("clusterArn", ""))),
        service=str(svc["serviceName"]),
        target=target.label,
        action=action,
        reason=reason,
        service_arn=str(svc["serviceArn"]),
        **details,
    )


def ignored_reason(event: EcrImageAction) -> str | None:
    """Why a push event is no deploy at all (an untagged push is normal: multi-arch and attested images push
    untagged child manifests)."""
    if event.detail.action_type != "PUSH":
        return "not_a_push"
    if event.detail.result != "SUCCESS":
        return "push_failed"
    if not event.detail.image_tag:
        return "untagged"
    return None


def accepted_targets(d: Deployer, rep: DeployReport, targets: list[DeployTarget]) -> list[DeployTarget]:
    """The targets whose tag policy takes the push, unless its digest is held (each refusal is reported)."""
    push = rep.push
    hold = d.holds.get(push.repository, push.digest) if d.holds else None
    accepted: list[DeployTarget] = []
    for target in targets:
        if target.tags is not None and not policy.accepts(target.tags, push.tag):
            logger.info(
                "tag not taken by the target's policy",
                extra={"target": target.label, "tag": push.tag, "policy": target.tags.model_dump()},
            )
            count("DeploySkipped", reason="tag_policy")
            for name in target.services:
                rep.outcomes.append(
                    Outcome(
                        cluster=target.cluster, service=name, target=target.label, action="skipped", reason="tag_policy"
                    )
                )
        elif hold is not None:
            why = f"{push.repository}@{push.digest} is held since {hold.created_at}: {hold.reason}".strip(": ")
            for name in target.services:
                outcome = Outcome(
                    cluster=target.cluster, service=name, target=target.label, action="skipped", reason="held"
                )
                report.skipped(d, rep, outcome, why)
        else:
            accepted.append(target)
    return accepted


def unreachable(d: Deployer, rep: DeployReport, targets: list[DeployTarget], why: str) -> None:
    """The targets' account cannot be reached: each of their services failed, and said so (nothing changed)."""
    for target in targets:
        for name in target.services:
            outcome = Outcome(
                cluster=target.cluster, service=name, target=target.label, action="failed", reason="account_unreachable"
            )
            report.failed(d, rep, outcome, why)


def by_cluster(targets: list[DeployTarget]) -> dict[str, list[tuple[DeployTarget, str]]]:
    """(target, service) pairs per cluster; a service named by two targets goes to the first."""
    clusters: dict[str, list[tuple[DeployTarget, str]]] = {}
    for target in targets:
        entries = clusters.setdefault(target.cluster, [])
        for name in target.services:
            if all(name != seen for _, seen in entries):
                entries.append((target, name))
    return clusters


def described(
    d: Deployer, rep: DeployReport, cluster: str, entries: list[tuple[DeployTarget, str]]
) -> list[tuple[DeployTarget, dict[str, Any]]]:
    """Describe the cluster's services (10 per call); a missing one, or one under another deployment controller,
    is reported and left out."""
    found, failures = d.ecs.describe_services(cluster, [name for _, name in entries])
    by_ref: dict[str, dict[str, Any]] = {}
    for described_svc in found:
        by_ref[described_svc["serviceName"]] = described_svc
        by_ref[described_svc["serviceArn"]] = described_svc
    out: list[tuple[DeployTarget, dict[str, Any]]] = []
    for target, name in entries:
        svc = by_ref.get(name)
        if svc is None or svc.get("status") != "ACTIVE":
            why = next((f.get("reason", "") for f in failures if str(f.get("arn", "")).endswith(f"/{name}")), "")
            outcome = Outcome(
                cluster=cluster, service=name, target=target.label, action="failed", reason="missing_service"
            )
            shown = why or (svc and svc.get("status")) or "MISSING"
            report.failed(d, rep, outcome, f"service {name} not found in cluster {cluster} ({shown})")
            continue
        controller = (svc.get("deploymentController") or {}).get("type", "ECS")
        if controller != "ECS":
            # CODE_DEPLOY and EXTERNAL services take new task definitions through their own controller.
            outcome = Outcome(
                cluster=cluster,
                service=name,
                target=target.label,
                action="failed",
                reason="unsupported_controller",
                service_arn=svc["serviceArn"],
            )
            why = (
                f"service {name} uses the {controller} deployment controller; Dockhand updates ECS-controlled services"
            )
            report.failed(d, rep, outcome, why)
            continue
        out.append((target, svc))
    return out


def admit(d: Deployer, rep: DeployReport, candidates: list[tuple[DeployTarget, dict[str, Any]]]) -> list[Admitted]:
    """Read the services' ledger rows at once, decide for each, and claim the ones the push goes to."""
    push = rep.push
    rows = d.ledger.read_many(svc["serviceArn"] for _, svc in candidates) if d.ledger else {}
    claims = Claims(d.table, SCOPE, owner=push.event_id) if d.table is not None and d.ledger else None
    admitted: list[Admitted] = []
    for target, svc in candidates:
        row = rows.get(svc["serviceArn"]) or LedgerRow(service_arn=svc["serviceArn"])
        running = _running(d, rep, target, svc, row)
        if running.digest == push.digest and running.how != "image":
            item = _already_running(d, rep, target, svc, row, running, claims)
        else:
            item = _judged(d, rep, target, svc, row, running, claims)
        if item is not None:
            admitted.append(item)
    return admitted


def _running(d: Deployer, rep: DeployReport, target: DeployTarget, svc: dict[str, Any], row: LedgerRow) -> Running:
    """What runs on the service: the ledger's word while it runs the row's revision, else its revision's own."""
    repository = rep.push.repository
    if row.describes(svc.get("taskDefinition")):
        return from_row(row, repository)
    td, tags = d.task_definition(str(svc["taskDefinition"]))
    return from_revision(td, tags, rep.push, target, repository)


def _judged(
    d: Deployer,
    rep: DeployReport,
    target: DeployTarget,
    svc: dict[str, Any],
    row: LedgerRow,
    running: Running,
    claims: Claims | None,
) -> Admitted | None:
    verdict = judge(target.order, rep.push, running, svc["serviceName"], d.ecr)
    if not verdict.deploy:
        outcome = outcome_of(target, svc, "skipped", verdict.reason, task_definition=svc.get("taskDefinition"))
        report.skipped(d, rep, outcome, verdict.text)
        return None
    claim = _claim(d, claims, row, rep.push.event_id) if claims is not None and not d.dry(target) else None
    return Admitted(target, svc, row, claim, caveat=verdict.text)


def _claim(d: Deployer, claims: Claims, row: LedgerRow, event_id: str) -> Claim:
    """Claim the service's next ledger version for this push (ClaimBusy while another push holds it)."""
    claim = claims.open(row.claim_key)
    if claim.done:
        raise RetryableError(f"{row.service_arn}: its ledger moved on while this push was admitted")
    if claim.opened_by not in (None, event_id):
        # Another push's deploy of this version was abandoned (its lease ran out; it may have updated the
        # service): the version is closed, and this push starts again from what runs now.
        if d.ledger is not None and d.ledger.move_on(row):
            claim.finish({"abandoned_by": claim.opened_by})
        raise RetryableError(f"{row.service_arn}: an abandoned deploy of {claim.opened_by} was closed")
    return claim


def _already_running(
    d: Deployer,
    rep: DeployReport,
    target: DeployTarget,
    svc: dict[str, Any],
    row: LedgerRow,
    running: Running,
    claims: Claims | None,
) -> Admitted | None:
    """The service runs the pushed digest, deployed by Dockhand. If this push's own deploy updated it and stopped
    before recording it, the deploy resumes; otherwise it is a quiet skip (and a redelivery of the push that
    deployed it announces its start again where that failed)."""
    push = rep.push
    if running.how == "tags" and claims is not None and not d.dry(target):
        mine = claims.peek(row.claim_key)
        if mine is not None and not mine.done and mine.opened_by == push.event_id:
            return Admitted(target, svc, row, claims.open(row.claim_key))
    outcome = outcome_of(target, svc, "skipped", "already_running", task_definition=svc.get("taskDefinition"))
    report.quietly_skipped(
        rep, outcome, "push already deployed", {"service_arn": svc["serviceArn"], "digest": push.digest}
    )
    if row.event_id == push.event_id and row.task_definition_arn:
        _announce_again(d, rep, target, svc, row)
    return None


def _announce_again(d: Deployer, rep: DeployReport, target: DeployTarget, svc: dict[str, Any], row: LedgerRow) -> None:
    """A redelivery of the push that deployed this service: its start is announced again, from the ledger row
    and the deployment record, on the channels that have not delivered it (it failed on one of them)."""
    record = d.deployments.get(row.deployment_id) if d.deployments and row.deployment_id else None
    outcome = outcome_of(
        target,
        svc,
        "updated",
        previous_task_definition=record.previous_task_definition_arn if record else None,
        task_definition=row.task_definition_arn,
        image=record.image if record else None,
        deployment_id=row.deployment_id or None,
    )
    report.announce_start(d, rep, outcome)
