"""Push-to-deploy: one ECR push → a new pinned task-definition revision → UpdateService, on every matching service.

Faithful (the copy carries every writable field and the tags), exactly once (the ledger's conditional claim),
never backwards (a push older than what runs is skipped and said so), and frugal (services of one cluster are
described 10 at a time; services sharing a task definition share one new revision).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import ClientError

from dockhand import images
from dockhand.arns import last_part
from dockhand.aws.ecs import Ecs
from dockhand.config import DeploySection, DeployTarget
from dockhand.deploy import policy, taskdef
from dockhand.errors import BadInputError, RetryableError
from dockhand.events import EcrImageAction
from dockhand.notify.delivery import NotDelivered, deliver
from dockhand.notify.model import Notification
from dockhand.observability import count, logger
from dockhand.state.deliveries import Deliveries
from dockhand.state.deployments import DeploymentRecord, Deployments, Holds
from dockhand.state.ledger import Claim, Ledger, LedgerRow

Action = Literal["updated", "skipped", "failed", "planned"]


@dataclass(frozen=True)
class Push:
    event_id: str
    repository: str
    tag: str
    digest: str
    pushed_at: datetime
    account: str
    region: str

    @classmethod
    def from_event(cls, event: EcrImageAction) -> Push:
        pushed = event.time if event.time.tzinfo else event.time.replace(tzinfo=UTC)
        return cls(
            event_id=event.id,
            repository=event.detail.repository_name,
            tag=event.detail.image_tag or "",
            digest=event.detail.image_digest,
            pushed_at=pushed,
            account=event.account,
            region=event.region,
        )

    @property
    def default_registry(self) -> str:
        return images.ecr_registry(self.account, self.region)


@dataclass
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


@dataclass
class Deployer:
    """The collaborators a deploy needs; handlers build the real ones, tests pass moto-backed ones."""

    ecs: Ecs
    ledger: Ledger | None
    holds: Holds | None
    deployments: Deployments | None
    notifier: Any
    section: DeploySection
    dry_run: bool = False
    deliveries: Deliveries | None = None
    # Queues a notification a channel failed (key, notification) for a retry of its own; without it the push fails.
    retry_later: Callable[[str, Notification], None] | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


# --------------------------------------------------------------------------------------------- decisions

Decision = Literal["claim", "resume", "skip", "busy"]


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
class _Work:
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


def _ignored_reason(push: Push, event: EcrImageAction) -> str | None:
    if event.detail.action_type != "PUSH":
        return "not_a_push"
    if event.detail.result != "SUCCESS":
        return "push_failed"
    if not push.tag:
        return "untagged"
    return None


# ------------------------------------------------------------------------------------------------- flow


def deploy_push(event: EcrImageAction, d: Deployer) -> DeployReport:
    """Deploy one push to every declared service whose tag policy takes it."""
    push = Push.from_event(event)
    report = DeployReport(push=push)
    ignored = _ignored_reason(push, event)
    if ignored:
        # An untagged push is normal: multi-arch and attested images push untagged child manifests.
        logger.info("push ignored", extra={"reason": ignored, "repository": push.repository, "digest": push.digest})
        count("DeploySkipped", reason=ignored)
        report.ignored = ignored
        return report

    targets = d.section.targets_for(push.repository)
    if not targets:
        logger.info("no deploy target for this repository", extra={"repository": push.repository, "tag": push.tag})
        count("DeploySkipped", reason="unknown_repository")
        report.ignored = "unknown_repository"
        return report

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
                report.outcomes.append(Outcome(target.cluster, name, target.label, "skipped", "tag_policy"))
            continue
        if hold is not None:
            for name in target.services:
                _tell(
                    d,
                    report,
                    push,
                    Outcome(target.cluster, name, target.label, "skipped", "held"),
                    f"{push.repository}@{push.digest} is held since {hold.created_at}: {hold.reason}".strip(": "),
                )
            continue
        accepted.append(target)

    clusters: dict[str, list[tuple[DeployTarget, str]]] = {}
    for target in accepted:
        entries = clusters.setdefault(target.cluster, [])
        for name in target.services:
            if all(name != seen for _, seen in entries):
                entries.append((target, name))
    work: list[_Work] = []
    for cluster, entries in clusters.items():
        work += _admit_cluster(d, report, push, cluster, entries)

    # Services on one task definition share one new revision, across clusters.
    groups: dict[tuple[Any, ...], list[_Work]] = {}
    for item in work:
        key = (
            item.service["taskDefinition"],
            item.target.registry,
            tuple(item.target.containers or ()),
            item.target.containers is None,
            _dry(d, item.target),
        )
        groups.setdefault(key, []).append(item)
    for group in groups.values():
        _deploy_group(d, report, push, group)
    if report.undelivered and d.retry_later is not None:
        # Every service was handled: the notifications are retried by messages of their own, so that a channel's
        # outage never holds back the pushes queued behind this one.
        for undelivered in report.undelivered:
            d.retry_later(undelivered, report.retried[undelivered])
    elif report.undelivered:
        # The message is retried for the notifications alone (delivered channels are skipped, and a redelivered
        # push that already runs announces its start again: see _admit).
        raise NotDelivered(f"notifications not delivered: {', '.join(report.undelivered)}")
    return report


def _admit_cluster(
    d: Deployer, report: DeployReport, push: Push, cluster: str, entries: list[tuple[DeployTarget, str]]
) -> list[_Work]:
    """Describe the cluster's services (10 per call) and claim each for this push."""
    found, failures = d.ecs.describe_services(cluster, [name for _, name in entries])
    by_ref: dict[str, dict[str, Any]] = {}
    for svc in found:
        by_ref[svc["serviceName"]] = svc
        by_ref[svc["serviceArn"]] = svc
    work: list[_Work] = []
    for target, name in entries:
        found_svc = by_ref.get(name)
        if found_svc is None or found_svc.get("status") != "ACTIVE":
            why = next((f.get("reason", "") for f in failures if str(f.get("arn", "")).endswith(f"/{name}")), "")
            _tell(
                d,
                report,
                push,
                Outcome(cluster, name, target.label, "failed", "missing_service"),
                f"service {name} not found in cluster {cluster} "
                f"({why or (found_svc and found_svc.get('status')) or 'MISSING'})",
            )
            continue
        controller = (found_svc.get("deploymentController") or {}).get("type", "ECS")
        if controller != "ECS":
            # CODE_DEPLOY and EXTERNAL services take new task definitions through their own controller.
            _tell(
                d,
                report,
                push,
                Outcome(cluster, name, target.label, "failed", "unsupported_controller", found_svc["serviceArn"]),
                f"service {name} uses the {controller} deployment controller; Dockhand updates ECS-controlled services",
            )
            continue
        item = _admit(d, report, push, target, found_svc)
        if item is not None:
            work.append(item)
    return work


def _dry(d: Deployer, target: DeployTarget) -> bool:
    return d.dry_run or d.section.dry_run or target.dry_run


def _admit(d: Deployer, report: DeployReport, push: Push, target: DeployTarget, svc: dict[str, Any]) -> _Work | None:
    """Read the service's ledger row and claim it for this push (or say why not)."""
    cluster, name, arn = _cluster_name(svc), svc["serviceName"], svc["serviceArn"]
    if d.ledger is None:
        return _Work(target, svc, None, known=False)
    for _attempt in range(3):
        row = d.ledger.read(arn)
        decision, reason = decide(row, push, target, d.now())
        if decision == "skip":
            outcome = Outcome(
                cluster,
                name,
                target.label,
                "skipped",
                reason,
                service_arn=arn,
                task_definition=svc.get("taskDefinition"),
            )
            if reason == "older":
                _tell(d, report, push, outcome, f"{push.tag} is older than {row.tag}, which runs on {name}")
            else:
                logger.info("push already deployed", extra={"service_arn": arn, "digest": push.digest})
                count("DeploySkipped", reason=reason)
                report.outcomes.append(outcome)
                if row.event_id == push.event_id and row.task_definition_arn:
                    _announce_again(d, report, push, target, svc, row)
            return None
        if decision == "busy":
            raise RetryableError(f"{arn}: {reason}")
        if _dry(d, target):
            return _Work(target, svc, None, known=row.digest is not None)
        if decision == "resume":
            assert row.claim is not None
            return _Work(target, svc, row.claim, resumed=True)
        claim = Claim(
            digest=push.digest,
            tag=push.tag,
            pushed_at=push.pushed_at.isoformat(),
            event_id=push.event_id,
            claimed_at=d.now().isoformat(),
        )
        if d.ledger.claim(row, claim) is not None:
            return _Work(target, svc, claim, known=row.digest is not None)
    raise RetryableError(f"{arn}: the ledger row kept changing while claiming it")


def _deploy_group(d: Deployer, report: DeployReport, push: Push, group: list[_Work]) -> None:
    """Services sharing one task definition (and one target shape): one new revision, one update each."""
    first = group[0]
    target = first.target
    current = str(first.service["taskDefinition"])
    registry = target.registry or push.default_registry
    image = images.pinned(registry, push.repository, push.digest)
    dry = _dry(d, target)
    try:
        new_arn = next((w.claim.registered_arn for w in group if w.claim and w.claim.registered_arn), None)
        changes: list[str] = []
        containers: tuple[str, ...] = ()
        if new_arn is None:
            td, tags = d.ecs.describe_task_definition(current)
            group = _drop_older_than_recorded(d, report, push, group, tags)
            if not group:
                return
            writable = taskdef.writable_keys(d.ecs.service_model)
            clone = taskdef.clone_for_image(
                td,
                tags,
                writable=writable,
                registry=registry,
                repository=push.repository,
                image=image,
                containers=target.containers,
                record={"tag": push.tag, "digest": push.digest, "pushed-at": push.pushed_at.isoformat()},
            )
            containers = clone.containers
            before = taskdef.register_payload(td, tags, writable)
            if taskdef.same_definition(before, clone.payload):
                for w in group:
                    if d.ledger and w.claim:
                        d.ledger.finish(w.arn, w.claim, current, None)
                    logger.info("task definition already runs this image", extra={"service_arn": w.arn, "image": image})
                    count("DeploySkipped", reason="unchanged")
                    report.outcomes.append(
                        Outcome(
                            _cluster_name(w.service),
                            w.name,
                            target.label,
                            "skipped",
                            "unchanged",
                            w.arn,
                            current,
                            current,
                            image,
                            containers,
                        )
                    )
                return
            changes = taskdef.diff(before, clone.payload)
            if dry:
                for w in group:
                    outcome = Outcome(
                        _cluster_name(w.service),
                        w.name,
                        target.label,
                        "planned",
                        "dry_run",
                        w.arn,
                        current,
                        None,
                        image,
                        containers,
                        diff=changes,
                    )
                    logger.info("dry run: would deploy", extra={"service_arn": w.arn, "image": image, "diff": changes})
                    count("DeploySkipped", reason="dry_run")
                    report.outcomes.append(outcome)
                    _notify(
                        d,
                        report,
                        "deploy_skipped",
                        "info",
                        f"Dry run: would deploy {push.repository}:{push.tag} to {w.name}",
                        outcome,
                        push,
                        text="\n".join(changes),
                    )
                return
            new_arn = str(d.ecs.register_task_definition(**clone.payload)["taskDefinitionArn"])
            report.registered.append(new_arn)
            if d.ledger:
                for w in group:
                    if w.claim:
                        d.ledger.note_registered(w.arn, push.digest, new_arn)
        for w in group:
            _update(d, report, push, w, current, new_arn, image, containers, changes)
    except RetryableError:
        raise
    except (BadInputError, ClientError) as exc:
        reason = exc.reason if isinstance(exc, BadInputError) else f"aws:{exc.response['Error'].get('Code', '?')}"
        for w in group:
            if d.ledger and w.claim:
                d.ledger.release(w.arn, push.digest)
            _tell(
                d,
                report,
                push,
                Outcome(_cluster_name(w.service), w.name, target.label, "failed", reason, w.arn, current, None, image),
                str(exc),
            )


def _update(
    d: Deployer,
    report: DeployReport,
    push: Push,
    w: _Work,
    current: str,
    new_arn: str,
    image: str,
    containers: tuple[str, ...],
    changes: list[str],
) -> None:
    cluster = _cluster_name(w.service)
    if w.service.get("taskDefinition") == new_arn:
        # A previous attempt updated the service and stopped before the ledger heard of it.
        service = w.service
        current = (w.claim and _previous_from(w.service, new_arn)) or current
    else:
        kwargs: dict[str, Any] = {"cluster": w.service["clusterArn"], "service": w.arn, "taskDefinition": new_arn}
        breaker = w.target.circuit_breaker
        if breaker is not None:
            kwargs["deploymentConfiguration"] = {
                **(w.service.get("deploymentConfiguration") or {}),
                "deploymentCircuitBreaker": {"enable": breaker.enable, "rollback": breaker.rollback},
            }
        service = d.ecs.update_service(**kwargs)
    deployment_id = primary_deployment_id(service)
    if d.deployments is not None and deployment_id:
        d.deployments.record(
            DeploymentRecord(
                deployment_id=deployment_id,
                service_arn=w.arn,
                cluster=cluster,
                service=w.name,
                repository=push.repository,
                tag=push.tag,
                digest=push.digest,
                image=image,
                task_definition_arn=new_arn,
                previous_task_definition_arn=current,
                target=w.target.label,
                push_event_id=push.event_id,
            )
        )
    if d.ledger and w.claim:
        d.ledger.finish(w.arn, w.claim, new_arn, deployment_id)
    outcome = Outcome(
        cluster,
        w.name,
        w.target.label,
        "updated",
        "resumed" if w.resumed else "",
        w.arn,
        current,
        new_arn,
        image,
        containers,
        deployment_id,
        changes,
    )
    report.outcomes.append(outcome)
    logger.info(
        "deploy started",
        extra={
            "service_arn": w.arn,
            "image": image,
            "task_definition": new_arn,
            "previous": current,
            "deployment_id": deployment_id,
        },
    )
    count("DeployStarted")
    _announce_start(d, report, push, outcome)


def _announce_start(d: Deployer, report: DeployReport, push: Push, outcome: Outcome) -> None:
    _notify(
        d,
        report,
        "deploy_started",
        "info",
        f"Deploying {push.repository}:{push.tag} to {outcome.service}",
        outcome,
        push,
        update_key=f"deploy/{outcome.deployment_id}" if outcome.deployment_id else None,
    )


def _announce_again(
    d: Deployer, report: DeployReport, push: Push, target: DeployTarget, svc: dict[str, Any], row: LedgerRow
) -> None:
    """A redelivery of the push that deployed this service: its start is announced again, from the ledger row
    and the deployment record, on the channels that have not delivered it (it failed on one of them)."""
    record = d.deployments.get(row.deployment_id) if d.deployments and row.deployment_id else None
    outcome = Outcome(
        _cluster_name(svc),
        svc["serviceName"],
        target.label,
        "updated",
        "",
        svc["serviceArn"],
        record.previous_task_definition_arn if record else None,
        row.task_definition_arn,
        record.image if record else None,
        deployment_id=row.deployment_id or None,
    )
    _announce_start(d, report, push, outcome)


def _drop_older_than_recorded(
    d: Deployer, report: DeployReport, push: Push, group: list[_Work], tags: list[dict[str, str]]
) -> list[_Work]:
    """Services the ledger knows nothing about (a new table, a first deploy) are guarded by the running task
    definition's own `dockhand:*` tags: a push older than the one recorded there is skipped too."""
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
        outcome = Outcome(
            _cluster_name(w.service),
            w.name,
            w.target.label,
            "skipped",
            "older",
            w.arn,
            str(w.service.get("taskDefinition")),
        )
        _tell(d, report, push, outcome, f"{push.tag} is older than {running_tag}, which runs on {w.name}")
    return [w for w in group if w.known]


def primary_deployment_id(service: dict[str, Any]) -> str | None:
    """The PRIMARY deployment's id: the key `ECS Deployment State Change` events carry."""
    return next((str(dep["id"]) for dep in service.get("deployments", []) if dep.get("status") == "PRIMARY"), None)


def _previous_from(service: dict[str, Any], new_arn: str) -> str | None:
    return next(
        (
            str(dep["taskDefinition"])
            for dep in service.get("deployments", [])
            if dep.get("status") == "ACTIVE" and dep.get("taskDefinition") != new_arn
        ),
        None,
    )


def _cluster_name(service: dict[str, Any]) -> str:
    return last_part(str(service.get("clusterArn", "")))


# ------------------------------------------------------------------------------------------- reporting


# outcome action → (log level = severity, log message, log key of the why, metric, notification kind, title)
_TOLD: dict[str, tuple[Any, str, str, str, str, str]] = {
    "skipped": ("warning", "deploy skipped", "detail", "DeploySkipped", "deploy_skipped", "Skipped {} on {}"),
    "failed": ("error", "deploy failed", "error", "DeployFailed", "deploy_failed", "Could not deploy {} to {}"),
}


def _tell(d: Deployer, report: DeployReport, push: Push, outcome: Outcome, why: str) -> None:
    """A service skipped or failed for a reason worth telling: logged, counted, reported and notified."""
    severity, message, why_key, metric, kind, title = _TOLD[outcome.action]
    extra = {"reason": outcome.reason, "service_arn": outcome.service_arn or outcome.service}
    getattr(logger, severity)(message, extra={**extra, "cluster": outcome.cluster, why_key: why})
    count(metric, reason=outcome.reason)
    report.outcomes.append(outcome)
    image = f"{push.repository}:{push.tag}"
    _notify(d, report, kind, severity, title.format(image, outcome.service), outcome, push, text=why)


def _notify(
    d: Deployer,
    report: DeployReport,
    kind: Any,
    severity: Any,
    title: str,
    outcome: Outcome,
    push: Push,
    *,
    text: str = "",
    update_key: str | None = None,
) -> None:
    if d.notifier is None:
        return
    fields = {
        "image": f"{push.repository}:{push.tag}",
        "digest": push.digest,
        "cluster": outcome.cluster,
        "service": outcome.service,
    }
    if outcome.previous_task_definition:
        fields["from"] = _short(outcome.previous_task_definition)
    if outcome.task_definition and outcome.task_definition != outcome.previous_task_definition:
        fields["to"] = _short(outcome.task_definition)
    if outcome.deployment_id:
        fields["deployment"] = outcome.deployment_id
    if outcome.reason:
        fields["reason"] = outcome.reason
    note = Notification(
        kind=kind,
        severity=severity,
        title=title,
        text=text,
        fields=fields,
        cluster=outcome.cluster,
        service=outcome.service,
        update_key=update_key,
    )
    key = f"push/{push.event_id}/{outcome.service_arn or f'{outcome.cluster}/{outcome.service}'}/{kind}"
    if outcome.action == "planned":
        # A dry run writes nothing, delivery claims included: a failed channel is logged and counted, not retried.
        deliver(d.notifier, None, key, note)
    elif deliver(d.notifier, d.deliveries, key, note):
        report.undelivered.append(key)
        report.retried[key] = note


def _short(task_definition_arn: str) -> str:
    return last_part(task_definition_arn)


def services_of(outcomes: Iterable[Outcome], action: Action) -> list[str]:
    return [o.service for o in outcomes if o.action == action]
