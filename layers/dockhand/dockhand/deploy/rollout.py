"""Rollout: services on one task definition (and one target shape) share one new revision — cloned faithfully,
the image pinned by digest, registered once — then each service is updated and its deployment recorded.

An unchanged clone registers nothing; a dry run stops at the plan; a revision a resumed claim already registered
is reused; a service a previous attempt already updated is not updated again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from dockhand import images
from dockhand.deploy import report, taskdef
from dockhand.deploy.admission import Admitted, drop_older_than_recorded
from dockhand.deploy.context import Deployer
from dockhand.deploy.report import DeployReport
from dockhand.errors import BadInputError
from dockhand.state.deployments import DeploymentRecord


@dataclass(frozen=True, kw_only=True)
class Revision:
    """The revision a group of services moves to, and what it changes."""

    current: str  # the task definition the services run now
    image: str  # the pushed image, pinned by digest
    arn: str  # the new revision
    containers: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()


def group_key(d: Deployer, item: Admitted) -> tuple[Any, ...]:
    """Services with equal keys share one new revision, across clusters."""
    target = item.target
    return (
        item.service["taskDefinition"],
        target.registry,
        tuple(target.containers or ()),
        target.containers is None,
        d.dry(target),
    )


def deploy_group(d: Deployer, rep: DeployReport, group: list[Admitted]) -> None:
    """One new revision for the group, then one update per service; a failure fails the group's services."""
    push, target = rep.push, group[0].target
    current = str(group[0].service["taskDefinition"])
    image = images.pinned(target.registry or push.default_registry, push.repository, push.digest)
    try:
        registered = next((w.claim.registered_arn for w in group if w.claim and w.claim.registered_arn), None)
        if registered is not None:
            revision: Revision | None = Revision(current=current, image=image, arn=registered)
        else:
            td, tags = d.ecs.describe_task_definition(current)
            group = drop_older_than_recorded(d, rep, group, tags)
            revision = register(d, rep, group, td, tags, current=current, image=image) if group else None
        if revision is not None:
            for w in group:
                update(d, rep, w, revision)
    except BadInputError as exc:
        _fail(d, rep, group, current, image, exc.reason, str(exc))
    except ClientError as exc:
        _fail(d, rep, group, current, image, f"aws:{exc.response['Error'].get('Code', '?')}", str(exc))


def register(
    d: Deployer,
    rep: DeployReport,
    group: list[Admitted],
    td: dict[str, Any],
    tags: list[dict[str, str]],
    *,
    current: str,
    image: str,
) -> Revision | None:
    """Clone the running revision `td` with the new image and register it; None when there is nothing to
    register (unchanged, or a dry run: each one reported)."""
    push, target = rep.push, group[0].target
    writable = taskdef.writable_keys(d.ecs.service_model)
    clone = taskdef.clone_for_image(
        td,
        tags,
        writable=writable,
        registry=target.registry or push.default_registry,
        repository=push.repository,
        image=image,
        containers=target.containers,
        record={"tag": push.tag, "digest": push.digest, "pushed-at": push.pushed_at.isoformat()},
    )
    before = taskdef.register_payload(td, tags, writable)
    if taskdef.same_definition(before, clone.payload):
        _unchanged(d, rep, group, current, image, clone.containers)
        return None
    changes = taskdef.diff(before, clone.payload)
    if d.dry(target):
        _plan(d, rep, group, current, image, clone.containers, changes)
        return None
    arn = str(d.ecs.register_task_definition(**clone.payload)["taskDefinitionArn"])
    rep.registered.append(arn)
    if d.ledger:
        for w in group:
            if w.claim:
                d.ledger.note_registered(w.arn, push.digest, arn)
    return Revision(current=current, image=image, arn=arn, containers=clone.containers, changes=tuple(changes))


def _unchanged(
    d: Deployer, rep: DeployReport, group: list[Admitted], current: str, image: str, containers: tuple[str, ...]
) -> None:
    for w in group:
        if d.ledger and w.claim:
            d.ledger.finish(w.arn, w.claim, current, None)
        outcome = w.outcome(
            "skipped",
            "unchanged",
            previous_task_definition=current,
            task_definition=current,
            image=image,
            containers=containers,
        )
        extra = {"service_arn": w.arn, "image": image}
        report.quietly_skipped(rep, outcome, "task definition already runs this image", extra)


def _plan(
    d: Deployer,
    rep: DeployReport,
    group: list[Admitted],
    current: str,
    image: str,
    containers: tuple[str, ...],
    changes: list[str],
) -> None:
    for w in group:
        outcome = w.outcome(
            "planned", "dry_run", previous_task_definition=current, image=image, containers=containers, diff=changes
        )
        report.planned(d, rep, outcome)


def _fail(
    d: Deployer, rep: DeployReport, group: list[Admitted], current: str, image: str, reason: str, why: str
) -> None:
    for w in group:
        if d.ledger and w.claim:
            d.ledger.release(w.arn, rep.push.digest)
        outcome = w.outcome("failed", reason, previous_task_definition=current, image=image)
        report.failed(d, rep, outcome, why)


def update(d: Deployer, rep: DeployReport, w: Admitted, revision: Revision) -> None:
    """UpdateService to the new revision (unless a previous attempt did), record the deployment, finish the claim."""
    push, current = rep.push, revision.current
    if w.service.get("taskDefinition") == revision.arn:
        # A previous attempt updated the service and stopped before the ledger heard of it.
        service = w.service
        current = (w.claim and previous_from(w.service, revision.arn)) or current
    else:
        service = d.ecs.update_service(**update_request(w, revision.arn))
    deployment_id = primary_deployment_id(service)
    if d.deployments is not None and deployment_id:
        d.deployments.record(
            DeploymentRecord(
                deployment_id=deployment_id,
                service_arn=w.arn,
                cluster=w.cluster,
                service=w.name,
                repository=push.repository,
                tag=push.tag,
                digest=push.digest,
                image=revision.image,
                task_definition_arn=revision.arn,
                previous_task_definition_arn=current,
                target=w.target.label,
                push_event_id=push.event_id,
            )
        )
    if d.ledger and w.claim:
        d.ledger.finish(w.arn, w.claim, revision.arn, deployment_id)
    outcome = w.outcome(
        "updated",
        "resumed" if w.resumed else "",
        previous_task_definition=current,
        task_definition=revision.arn,
        image=revision.image,
        containers=revision.containers,
        deployment_id=deployment_id,
        diff=list(revision.changes),
    )
    report.started(d, rep, outcome)


def update_request(w: Admitted, task_definition: str) -> dict[str, Any]:
    """UpdateService's arguments: the new revision, and the target's circuit breaker when it sets one."""
    kwargs: dict[str, Any] = {"cluster": w.service["clusterArn"], "service": w.arn, "taskDefinition": task_definition}
    breaker = w.target.circuit_breaker
    if breaker is not None:
        kwargs["deploymentConfiguration"] = {
            **(w.service.get("deploymentConfiguration") or {}),
            "deploymentCircuitBreaker": {"enable": breaker.enable, "rollback": breaker.rollback},
        }
    return kwargs


def primary_deployment_id(service: dict[str, Any]) -> str | None:
    """The PRIMARY deployment's id: the key `ECS Deployment State Change` events carry."""
    return next((str(dep["id"]) for dep in service.get("deployments", []) if dep.get("status") == "PRIMARY"), None)


def previous_from(service: dict[str, Any], new_arn: str) -> str | None:
    return next(
        (
            str(dep["taskDefinition"])
            for dep in service.get("deployments", [])
            if dep.get("status") == "ACTIVE" and dep.get("taskDefinition") != new_arn
        ),
        None,
    )
