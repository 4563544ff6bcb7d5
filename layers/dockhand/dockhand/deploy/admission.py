"""Admission: which services a push may be deployed to, and the ledger claim that makes it exactly once.

Targets whose tag policy refuses the tag are skipped; a held digest is skipped and said so; each service is
described (10 per call) and its ledger row read; `decide` says claim, resume, skip or busy (pure); a claim is a
conditional write on the row. Services the ledger knows nothing of are guarded by the running task
definition's own `dockhand:*` tags instead (`drop_older_than_recorded`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Unpack

from dockhand.arns import last_part
from dockhand.config import DeployTarget
from dockhand.deploy import policy, report, taskdef
from dockhand.deploy.context import Deployer, Push
from dockhand.deploy.report import Action, DeployReport, Outcome, OutcomeDetails
from dockhand.errors import RetryableError
from dockhand.events import EcrImageAction
from dockhand.observability import count, logger
from dockhand.state.ledger import Claim, LedgerRow

Decision = Literal["claim", "resume", "skip", "busy"]
CLAIM_ATTEMPTS = 3  # ledger rows that keep changing under us: the message is retried instead


def decide(row: LedgerRow, push: Push, target: DeployTarget, now: datetime) -> tuple[Decision, str]:
    """What to do with `push` on a service whose ledger row is `row` (pure)."""
    claim = row.claim
    if claim is not None and claim.digest == push.digest:
        if claim.event_id == push.event_id or claim.expired(now):
            return "resume", "retry of an interrupted deploy"
        return "busy", "the same image is being deployed by another delivery"
    if row.digest == push.digest:
        return "skip", "already_running"
    if row.digest is not None and policy.is_older(target.tags, push.tag, push.pushed_at, row.tag, row.pushed_time):
        return "skip", "older"
    if claim is not None and not claim.expired(now):
        return "busy", f"{claim.tag} is being deployed"
    return "claim", ""


@dataclass
class Admitted:
    """A service this push goes to, with its claim (None in a dry run or without a ledger)."""

    target: DeployTarget
    service: dict[str, Any]
    claim: Claim | None
    resumed: bool = False
    known: bool = True  # the ledger knew what runs; if not, the task definition's own tags are asked

    @property
    def name(self) -> str:
        return str(self.service["serviceName"])

    @property
    def arn(self) -> str:
        return str(self.service["serviceArn"])

    @property
    def cluster(self) -> str:
        return last_part(str(self.service.get("clusterArn", "")))

    def outcome(self, action: Action, reason: str = "", **details: Unpack[OutcomeDetails]) -> Outcome:
        """What happened to this service: `action` for `reason`, with the details the step knows."""
        return Outcome(
            cluster=self.cluster,
            service=self.name,
            target=self.target.label,
            action=action,
            reason=reason,
            service_arn=self.arn,
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
        if not policy.accepts(target.tags, push.tag):
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


def by_cluster(targets: list[DeployTarget]) -> dict[str, list[tuple[DeployTarget, str]]]:
    """(target, service) pairs per cluster; a service named by two targets goes to the first."""
    clusters: dict[str, list[tuple[DeployTarget, str]]] = {}
    for target in targets:
        entries = clusters.setdefault(target.cluster, [])
        for name in target.services:
            if all(name != seen for _, seen in entries):
                entries.append((target, name))
    return clusters


def admit_cluster(
    d: Deployer, rep: DeployReport, cluster: str, entries: list[tuple[DeployTarget, str]]
) -> list[Admitted]:
    """Describe the cluster's services (10 per call) and claim each for this push."""
    found, failures = d.ecs.describe_services(cluster, [name for _, name in entries])
    by_ref: dict[str, dict[str, Any]] = {}
    for described in found:
        by_ref[described["serviceName"]] = described
        by_ref[described["serviceArn"]] = described
    admitted: list[Admitted] = []
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
        item = admit(d, rep, target, svc)
        if item is not None:
            admitted.append(item)
    return admitted


def admit(d: Deployer, rep: DeployReport, target: DeployTarget, svc: dict[str, Any]) -> Admitted | None:
    """Read the service's ledger row and claim it for this push (or say why not)."""
    if d.ledger is None:
        return Admitted(target, svc, None, known=False)
    push, arn = rep.push, svc["serviceArn"]
    for _attempt in range(CLAIM_ATTEMPTS):
        row = d.ledger.read(arn)
        decision, reason = decide(row, push, target, d.now())
        if decision == "skip":
            _skip(d, rep, target, svc, row, reason)
            return None
        if decision == "busy":
            raise RetryableError(f"{arn}: {reason}")
        if d.dry(target):
            return Admitted(target, svc, None, known=row.digest is not None)
        if decision == "resume":
            assert row.claim is not None
            return Admitted(target, svc, row.claim, resumed=True)
        claim = Claim(
            digest=push.digest,
            tag=push.tag,
            pushed_at=push.pushed_at.isoformat(),
            event_id=push.event_id,
            claimed_at=d.now().isoformat(),
        )
        if d.ledger.claim(row, claim) is not None:
            return Admitted(target, svc, claim, known=row.digest is not None)
    raise RetryableError(f"{arn}: the ledger row kept changing while claiming it")


def _skip(d: Deployer, rep: DeployReport, target: DeployTarget, svc: dict[str, Any], row: LedgerRow, why: str) -> None:
    push, name, arn = rep.push, svc["serviceName"], svc["serviceArn"]
    outcome = Outcome(
        cluster=last_part(str(svc.get("clusterArn", ""))),
        service=name,
        target=target.label,
        action="skipped",
        reason=why,
        service_arn=arn,
        task_definition=svc.get("taskDefinition"),
    )
    if why == "older":
        report.skipped(d, rep, outcome, f"{push.tag} is older than {row.tag}, which runs on {name}")
        return
    report.quietly_skipped(rep, outcome, "push already deployed", {"service_arn": arn, "digest": push.digest})
    if row.event_id == push.event_id and row.task_definition_arn:
        _announce_again(d, rep, target, svc, row)


def _announce_again(d: Deployer, rep: DeployReport, target: DeployTarget, svc: dict[str, Any], row: LedgerRow) -> None:
    """A redelivery of the push that deployed this service: its start is announced again, from the ledger row
    and the deployment record, on the channels that have not delivered it (it failed on one of them)."""
    record = d.deployments.get(row.deployment_id) if d.deployments and row.deployment_id else None
    outcome = Outcome(
        cluster=last_part(str(svc.get("clusterArn", ""))),
        service=svc["serviceName"],
        target=target.label,
        action="updated",
        service_arn=svc["serviceArn"],
        previous_task_definition=record.previous_task_definition_arn if record else None,
        task_definition=row.task_definition_arn,
        image=record.image if record else None,
        deployment_id=row.deployment_id or None,
    )
    report.announce_start(d, rep, outcome)


def drop_older_than_recorded(
    d: Deployer, rep: DeployReport, group: list[Admitted], tags: list[dict[str, str]]
) -> list[Admitted]:
    """Services the ledger knows nothing about (a new table, a first deploy) are guarded by the running task
    definition's own `dockhand:*` tags: a push older than the one recorded there is skipped too."""
    push = rep.push
    recorded = {t["key"].removeprefix(taskdef.TAG_PREFIX): t.get("value", "") for t in tags}
    running_tag, running_digest = recorded.get("tag"), recorded.get("digest")
    unknown = [w for w in group if not w.known]
    if not unknown or not running_tag or running_digest == push.digest:
        return group
    try:
        running_at = datetime.fromisoformat(recorded.get("pushed-at", ""))
    except ValueError:
        running_at = None
    if not policy.is_older(group[0].target.tags, push.tag, push.pushed_at, running_tag, running_at):
        return group
    for w in unknown:
        if d.ledger and w.claim:
            d.ledger.release(w.arn, push.digest)
        outcome = w.outcome("skipped", "older", previous_task_definition=str(w.service.get("taskDefinition")))
        report.skipped(d, rep, outcome, f"{push.tag} is older than {running_tag}, which runs on {w.name}")
    return [w for w in group if w.known]
