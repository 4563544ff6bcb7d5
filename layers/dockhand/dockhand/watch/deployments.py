"""Deployment outcomes: an `ECS Deployment State Change` of a deploy Dockhand started is recorded once; a
circuit-breaker rollback holds the digest until a person releases it; a completed deploy prunes old revisions;
the outcome updates the deploy's Slack message (bot mode) and goes to every channel.

One outcome of one deployment is one claim (`deployment` scope, `<deployment id>#<outcome>`) whose steps are the
outcome written to the deployment record, the hold or the pruning, and the announcement; a redelivery resumes at the
first step not done, and a finished outcome delivered again does nothing.
"""

from __future__ import annotations

from typing import Literal

from dockhand import arns
from dockhand.events import DeploymentStateChange
from dockhand.links import service_link
from dockhand.notify.model import Link, Notification
from dockhand.observability import count
from dockhand.revisions import prune_revisions
from dockhand.state.claims import Claims
from dockhand.state.deployments import DeploymentRecord, Deployments, HoldRecord, Holds
from dockhand.watch.context import Watch

Outcome = Literal["COMPLETED", "ROLLED_BACK"]


def deployment_outcome(event_name: str, reason: str | None) -> Outcome | None:
    text = (reason or "").lower()
    if event_name == "SERVICE_DEPLOYMENT_COMPLETED":
        return "COMPLETED"
    if event_name == "SERVICE_DEPLOYMENT_FAILED":
        return "ROLLED_BACK"
    if event_name == "SERVICE_DEPLOYMENT_IN_PROGRESS" and "circuit breaker" in text and "rolling back" in text:
        return "ROLLED_BACK"
    return None


def handle_deployment(event: DeploymentStateChange, watch: Watch) -> str:
    detail = event.detail
    status = deployment_outcome(detail.event_name, detail.reason)
    if status is None:
        return "deploy:ignored"
    deployments = Deployments(watch.table)
    rec = deployments.get(detail.deployment_id)
    if rec is None and detail.event_name == "SERVICE_DEPLOYMENT_IN_PROGRESS":
        # The rollback deployment itself: the failure it answers was already reported by its FAILED event.
        count("DeployEventDropped", reason="rollback_deployment")
        return "deploy:rollback_in_progress"
    claim = Claims(watch.table, "deployment").open(f"{detail.deployment_id}#{status}")
    if claim.done:
        count("DeployEventDropped", reason="duplicate")
        return f"deploy:duplicate:{status}"
    if rec is not None:
        recorded = claim.once("outcome", lambda: _record_outcome(deployments, rec, status, detail.reason))
        if recorded != status:  # the deployment ended otherwise before (a COMPLETED after its rollback …)
            count("DeployEventDropped", reason="already_final")
            claim.finish({"outcome": f"deploy:already:{recorded}"})
            return f"deploy:already:{recorded}"
        claim.once("follow_up", lambda: _follow_up(rec, status, detail.reason, watch))
        target = watch.config.deploy.target(rec.target)
        if status == "COMPLETED" and watch.stage_completed is not None and target is not None and target.stage:
            completed = watch.stage_completed
            claim.once("promotion", lambda: completed(rec, detail.updated_at or event.time))
    count("DeployOutcome", status=status)
    watch.send(
        f"deploy/{detail.deployment_id}/{status}", deploy_notification(event, status, rec, event.region or watch.region)
    )
    claim.finish({"outcome": f"deploy:{status}"})
    return f"deploy:{status}"


def _record_outcome(deployments: Deployments, rec: DeploymentRecord, status: Outcome, reason: str | None) -> str:
    """Write the outcome on the deployment record; the status it has now (another one if it was final already)."""
    finished = deployments.finish(rec.deployment_id, status, reason)
    if finished is not None:
        return finished.status
    current = deployments.get(rec.deployment_id)
    return current.status if current is not None else status


def _follow_up(rec: DeploymentRecord, status: Outcome, reason: str | None, watch: Watch) -> list[str]:
    """A rollback holds the digest; a completion prunes the family's old revisions. Returns what was done (a
    revision deregistered by an earlier try is no longer listed as active, so a resumed pruning goes on from there)."""
    if status == "ROLLED_BACK":
        Holds(watch.table).hold(
            HoldRecord(
                repository=rec.repository,
                digest=rec.digest,
                tag=rec.tag,
                reason=reason or "rolled back",
                deployment_id=rec.deployment_id,
                service_arn=rec.service_arn,
            )
        )
        count("DigestHeld")
        return [f"held {rec.repository}@{rec.digest}"]
    return prune_revisions(watch.ecs_for(rec.service_arn), watch.config.deploy, rec, dry_run=watch.dry_run)


def deploy_notification(
    event: DeploymentStateChange, status: Outcome, rec: DeploymentRecord | None, region: str
) -> Notification:
    completed = status == "COMPLETED"
    cluster, service = (rec.cluster, rec.service) if rec else arns.cluster_and_service(event.service_arn)
    what = f"{rec.repository}:{rec.tag}" if rec else "deployment"
    verb = "completed" if completed else "rolled back (circuit breaker)"
    fields = {"Cluster": cluster, "Service": service, "Deployment": event.detail.deployment_id, "Outcome": verb}
    if rec:
        fields |= {
            "Image": rec.image,
            "Digest": rec.digest,
            "Task definition": arns.last_part(rec.task_definition_arn),
            "Previous": arns.last_part(rec.previous_task_definition_arn),
        }
        if status == "ROLLED_BACK":
            fields["Hold"] = (
                f"{rec.repository}@{rec.digest} is held; release it with "
                f"`dockhand holds release {rec.repository} {rec.digest}`"
            )
    if event.detail.reason:
        fields["Reason"] = event.detail.reason
    region = event.region or region
    return Notification(
        kind="deploy_completed" if completed else "deploy_rolled_back",
        severity="info" if completed else "error",
        title=f"{service}: deploy of {what} {verb}",
        text=event.detail.reason or "",
        fields=fields,
        links=[Link(label="ECS console", url=service_link(cluster, service, "deployments", region))],
        cluster=cluster,
        service=service,
        update_key=f"deploy/{event.detail.deployment_id}",
        role="update",
    )
