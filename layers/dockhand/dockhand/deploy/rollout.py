"""Rollout: services on one task definition (and one target shape) share one new revision — cloned faithfully,
the image pinned by digest, registered once — then each service is updated, its deployment recorded, and the
ledger moved on.

Each step is recorded where a redelivery finds it, and what may have happened without being recorded is found,
not done again:
- the revision: registered once, or found (`revision.py`);
- the update: the service's claim records it (`updated`: deployment id and previous revision); one not recorded
  is found on the service itself (it runs the new revision);
- the ledger write is conditional on the version the push claimed; the claim is finished last.
An unchanged clone registers nothing; a dry run stops at the plan; a failure that will not pass (no container of
the repository, a refused definition) fails the group's services and moves their ledger versions on.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from dockhand import arns, images
from dockhand.deploy import report, taskdef
from dockhand.deploy.admission import Admitted
from dockhand.deploy.context import Deployer
from dockhand.deploy.report import DeployReport
from dockhand.deploy.revision import Revision, registered_once
from dockhand.errors import BadInputError, RetryableError
from dockhand.state.deployments import DeploymentRecord


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
        td, tags = d.task_definition(current)
        recorded = taskdef.recorded(tags)
        if recorded.get("digest") == push.digest:
            # The services run this push's revision already: a resumed deploy that updated them.
            source = recorded.get("source")
            previous = f"{current.rsplit('/', 1)[0]}/{source}" if source else current
            revision: Revision | None = Revision(current=previous, image=image, arn=current)
        else:
            revision = _new_revision(d, rep, group, td, tags, current=current, image=image)
        if revision is not None:
            for w in group:
                update(d, rep, w, revision)
    except BadInputError as exc:
        _fail(d, rep, group, current, image, exc.reason, str(exc))
    except ClientError as exc:
        _fail(d, rep, group, current, image, f"aws:{exc.response['Error'].get('Code', '?')}", str(exc))


def _new_revision(
    d: Deployer,
    rep: DeployReport,
    group: list[Admitted],
    td: dict[str, Any],
    tags: list[dict[str, str]],
    *,
    current: str,
    image: str,
) -> Revision | None:
    """Clone the running revision `td` with the new image and register it once; None when there is nothing to
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
        record={
            "tag": push.tag,
            "digest": push.digest,
            "pushed-at": push.pushed_at.isoformat(),
            "source": arns.last_part(current),
        },
    )
    before = taskdef.register_payload(td, tags, writable)
    if taskdef.same_definition(before, clone.payload):
        _unchanged(d, rep, group, current, image, clone.containers)
        return None
    changes = taskdef.diff(before, clone.payload)
    if d.dry(target):
        _plan(d, rep, group, current, image, clone.containers, changes)
        return None
    arn = registered_once(d, rep, group, current, clone.payload)
    return Revision(current=current, image=image, arn=arn, containers=clone.containers, changes=tuple(changes))


def _unchanged(
    d: Deployer, rep: DeployReport, group: list[Admitted], current: str, image: str, containers: tuple[str, ...]
) -> None:
    push = rep.push
    for w in group:
        if d.ledger and w.claim:
            _record(d, rep, w, current, None)
            w.claim.finish({"task_definition": current, "unchanged": True})
        outcome = w.outcome(
            "skipped",
            "unchanged",
            previous_task_definition=current,
            task_definition=current,
            image=image,
            containers=containers,
        )
        extra = {"service_arn": w.arn, "image": image, "digest": push.digest}
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
    """A failure a retry would meet again: reported once; each service's ledger version is moved on (what runs
    is unchanged) so that later pushes are not held behind it."""
    for w in group:
        if d.ledger and w.claim:
            if not d.ledger.move_on(w.row):
                raise RetryableError(f"{w.arn}: its ledger moved on while this push failed")
            w.claim.finish({"failed": reason})
        outcome = w.outcome("failed", reason, previous_task_definition=current, image=image)
        report.failed(d, rep, outcome, why)


def update(d: Deployer, rep: DeployReport, w: Admitted, revision: Revision) -> None:
    """UpdateService to the new revision (once), record the deployment and the ledger, finish the claim, announce."""
    push = rep.push
    if w.claim is not None:
        step = w.claim.once("updated", lambda: _update_service(d, w, revision), lambda: _found_updated(w, revision))
    else:
        step = _update_service(d, w, revision)
    deployment_id, previous = step["deployment"] or None, str(step["previous"])
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
                previous_task_definition_arn=previous,
                target=w.target.label,
                push_event_id=push.event_id,
            )
        )
    if d.ledger and w.claim:
        _record(d, rep, w, revision.arn, deployment_id)
        w.claim.finish({"task_definition": revision.arn, "deployment": deployment_id})
    outcome = w.outcome(
        "updated",
        "resumed" if w.resumed else "",
        previous_task_definition=previous,
        task_definition=revision.arn,
        image=revision.image,
        containers=revision.containers,
        deployment_id=deployment_id,
        diff=list(revision.changes),
    )
    report.started(d, rep, outcome, note=w.caveat)


def _record(d: Deployer, rep: DeployReport, w: Admitted, task_definition: str, deployment_id: str | None) -> None:
    """The push runs on the service now: the ledger row, at the version the push claimed."""
    push = rep.push
    assert d.ledger is not None
    written = d.ledger.record(
        w.row,
        digest=push.digest,
        tag=push.tag,
        pushed_at=push.pushed_at.isoformat(),
        task_definition_arn=task_definition,
        deployment_id=deployment_id,
        event_id=push.event_id,
    )
    if not written:
        raise RetryableError(f"{w.arn}: its ledger moved on while this push deployed it")


def _update_service(d: Deployer, w: Admitted, revision: Revision) -> dict[str, str]:
    service = d.ecs.update_service(**update_request(w, revision.arn))
    return {"deployment": primary_deployment_id(service) or "", "previous": revision.current}


def _found_updated(w: Admitted, revision: Revision) -> dict[str, str] | None:
    """An earlier attempt's UpdateService, seen on the service: it runs the new revision already."""
    if w.service.get("taskDefinition") != revision.arn:
        return None
    return {"deployment": primary_deployment_id(w.service) or "", "previous": revision.current}


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
