"""Old task-definition revisions, deregistered after a completed deploy: the newest `keep_revisions` of the family
and every revision still in use stay.

`keep_revisions` is a deploy setting, but only the watcher sees a deploy complete; this sits below both wings so
the watcher's deployment-outcome flow calls it without reaching into the deploy wing.
"""

from __future__ import annotations

from dockhand import arns
from dockhand.aws.ecs import Ecs
from dockhand.config import DeploySection
from dockhand.observability import count, logger
from dockhand.state.deployments import DeploymentRecord


def prune_revisions(ecs: Ecs, deploy: DeploySection, rec: DeploymentRecord, *, dry_run: bool) -> list[str]:
    """Deregister old revisions of the deployed family, keeping the newest N and every one in use."""
    family = arns.family(rec.task_definition_arn)
    if not family:
        return []
    keep = deploy.keep_revisions_for(rec.target)
    revisions = ecs.list_task_definitions(family)  # oldest first
    candidates = revisions[:-keep] if len(revisions) > keep else []
    if not candidates:
        return []
    in_use = revisions_in_use(ecs, rec.cluster) | {rec.task_definition_arn, rec.previous_task_definition_arn}
    removed = []
    for arn in candidates:
        if arn in in_use:
            continue
        if dry_run or deploy.dry_run:
            logger.info("dry run: would deregister", extra={"task_definition": arn})
            continue
        ecs.deregister_task_definition(arn)
        removed.append(arn)
    if removed:
        count("RevisionsDeregistered", value=len(removed))
        logger.info("old revisions deregistered", extra={"family": family, "removed": removed, "kept": keep})
    return removed


def revisions_in_use(ecs: Ecs, cluster: str) -> set[str]:
    """Task definitions the cluster's services (every deployment) and running or pending tasks use."""
    used: set[str] = set()
    services = ecs.list_services(cluster)
    found, _ = ecs.describe_services(cluster, services) if services else ([], [])
    for svc in found:
        used.add(svc.get("taskDefinition", ""))
        used |= {d.get("taskDefinition", "") for d in svc.get("deployments", [])}
    for status in ("RUNNING", "PENDING"):
        task_arns = ecs.list_tasks(cluster, desiredStatus=status)
        if task_arns:
            used |= {t.get("taskDefinitionArn", "") for t in ecs.describe_tasks(cluster, task_arns)}
    used.discard("")
    return used
