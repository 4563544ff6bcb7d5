"""The traffic gate: Dockhand's deployment lifecycle hook for services on ECS blue/green deployments.

ECS calls the hook (for example at POST_TEST_TRAFFIC_SHIFT: the new revision takes test traffic, production stays on
the old one) and waits for its answer. The hook finds which digest the deployment brings (the service's task
definition, pinned by digest as Dockhand deploys it) and holds one gate per (repository, stage, digest), whatever
number of services and calls (`state/promotions.py: TrafficGates`, a conditional put: a second or concurrent first
call finds the gate the first one wrote). Each call judges the gate again:

- FAILED when a person rejected it, the approval expired, a named alarm is in ALARM (or does not exist), or a task
  of the service failed since the gate began (an alert window: a crash loop's first stop opens one);
- IN_PROGRESS (ECS calls again after `callback_seconds`) while the bake on test traffic runs or the approval waits;
- SUCCEEDED when the bake ended clean and the approval (if declared) was given.

Every end is one conditional move of the gate and one notification; the approval request goes out once. ECS rolls
back on an exception or an answer without `hookStatus`, so the hook never raises: an AWS error worth retrying (or a
notification not delivered yet) answers IN_PROGRESS and the next call resumes; a payload that breaks the contract, a
service with no gate declared, or a deployment Dockhand did not make answers FAILED and says why (fail closed). A
rollback is never held.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dockhand import arns
from dockhand.aws.clients import is_retryable
from dockhand.aws.ecs import Ecs
from dockhand.config import DeployTarget, TrafficGate
from dockhand.errors import InvalidEvent, RetryableError
from dockhand.events import parse_message
from dockhand.events.hook import HookInvocation, HookStatus
from dockhand.images import ecr_registry, parse_image
from dockhand.observability import count, logger
from dockhand.promote import notes
from dockhand.promote.context import Promoter
from dockhand.promote.verify import MISSING, alarm_states
from dockhand.state.alerts import windows_since
from dockhand.state.ledger import Ledger
from dockhand.state.promotions import PromotionRecord, Status, TrafficGates

RETRY_SECONDS = 30  # how soon ECS asks again after an error worth retrying
ENDED: dict[Status, HookStatus] = {"passed": "SUCCEEDED", "failed": "FAILED", "rejected": "FAILED", "expired": "FAILED"}


@dataclass(frozen=True)
class HookAnswer:
    status: HookStatus
    why: str
    delay: int = 0

    def reply(self) -> dict[str, Any]:
        """What ECS reads: `hookStatus`, and `callBackDelay` while the gate holds."""
        out: dict[str, Any] = {"hookStatus": self.status}
        return out | ({"callBackDelay": self.delay} if self.status == "IN_PROGRESS" else {})


def answer(event: Any, make: Callable[[], tuple[Promoter, Ecs]]) -> HookAnswer:
    """The hook's answer to one call; never raises (an exception would roll the deployment back)."""
    try:
        call = parse_message(HookInvocation, event, "lifecycle hook payload")
    except InvalidEvent as exc:
        logger.error("lifecycle hook payload refused", extra={"error": str(exc)})
        return _counted(HookAnswer("FAILED", str(exc)), "bad_input")
    try:
        p, ecs = make()
        return _counted(hold(call, p, ecs), "judged")
    except Exception as exc:
        if isinstance(exc, RetryableError) or is_retryable(exc):
            logger.warning("traffic gate: try again", extra={"error": str(exc), "execution": call.execution_id})
            return _counted(HookAnswer("IN_PROGRESS", f"try again: {exc}", RETRY_SECONDS), "retry")
        logger.exception("traffic gate failed", extra={"execution": call.execution_id})
        return _counted(HookAnswer("FAILED", f"the hook failed ({type(exc).__name__}: {exc})"), "error")


def _counted(a: HookAnswer, how: str) -> HookAnswer:
    count("TrafficGateAnswer", answer=a.status, how=how)
    logger.info("traffic gate answer", extra={"hook_status": a.status, "why": a.why})
    return a


def hold(call: HookInvocation, p: Promoter, ecs: Ecs) -> HookAnswer:
    """Judge the gate of the deployment `call` is about (the gate is written at the first call)."""
    if call.rolling_back:
        return HookAnswer("SUCCEEDED", "a rollback is never held")
    service_arn = call.details.service_arn
    cluster, service = arns.cluster_and_service(service_arn)
    targets = p.config.deploy.gated_targets(cluster, service)
    if not targets:
        return _refuse(call, p, f"{cluster}/{service} calls the hook but declares no traffic_gate in dockhand.yaml")
    digest = _deployed_digest(targets[0], service_arn, ecs)
    if digest is None:
        why = f"{cluster}/{service} is not deploying an image of {targets[0].repository} pinned by digest"
        return _refuse(call, p, f"{why}: not a deployment Dockhand made")
    gate = p.traffic_gate(targets[0].repository, str(targets[0].stage))
    assert gate is not None  # a gated target's stage has a gate
    rec = _gate_of(targets[0], service_arn, digest, gate, p)
    return _judge(rec, gate, cluster, service, p)


def _deployed_digest(target: DeployTarget, service_arn: str, ecs: Ecs) -> str | None:
    """The digest of the target's repository in the task definition the service deploys (DescribeServices)."""
    arn = arns.ecs_arn(service_arn, "service")
    cluster, service = arns.cluster_and_service(service_arn)
    found, _ = ecs.describe_services(cluster, [service])
    task_definition = found[0].get("taskDefinition") if found else None
    if not task_definition:
        return None
    td, _ = ecs.describe_task_definition(str(task_definition), with_tags=False)
    registry = target.registry or ecr_registry(arn.account, arn.region)
    for container in td.get("containerDefinitions", []):
        ref = parse_image(str(container.get("image", "")))
        if ref.registry == registry and ref.repository == target.repository and ref.digest:
            return ref.digest
    return None


def _gate_of(target: DeployTarget, service_arn: str, digest: str, gate: TrafficGate, p: Promoter) -> PromotionRecord:
    """The gate of (repository, stage, digest): written by the first call, found by every other."""
    gates = TrafficGates(p.table)
    stage = str(target.stage)
    found = gates.get(target.repository, stage, digest)
    if found is not None:
        return found
    row = Ledger(p.table).read(service_arn)
    now = int(p.clock())
    arn = arns.ecs_arn(service_arn, "service")
    rec = PromotionRecord(
        repository=target.repository,
        digest=digest,
        tag=(row.tag or "") if row.digest == digest else "",
        pushed_at=(row.pushed_at or "") if row.digest == digest else "",
        account=arn.account,
        region=arn.region,
        from_stage=target.promote_from or "",
        stage=stage,
        status="awaiting_approval" if gate.approval else "baking",
        bake_until=now + gate.bake_minutes * 60,
        approval_expires=now + gate.approval.expires_minutes * 60 if gate.approval else 0,
        waiting_on=_waiting_on(gate),
        started_at=p.now().isoformat(timespec="seconds"),
    )
    if gates.begin(rec):
        count("TrafficGateHeld", stage=stage)
    return gates.get(target.repository, stage, digest) or rec


def _waiting_on(gate: TrafficGate) -> str:
    waits = [f"the bake on test traffic ({gate.bake_minutes} min)"] if gate.bake_minutes else []
    if gate.approval:
        waits.append(f"an approval by {', '.join(gate.approval.approvers)}")
    return " and ".join(waits) or "the alarms"


def _judge(rec: PromotionRecord, gate: TrafficGate, cluster: str, service: str, p: Promoter) -> HookAnswer:
    if rec.status in ENDED:
        return _ended(rec, p)
    asking = rec.status == "awaiting_approval" and gate.approval is not None
    if asking and p.clock() >= rec.approval_expires:
        why = f"nobody answered the approval request within {_minutes(rec)} min"
        return _end(rec, "expired", why, p)
    if asking:
        request = notes.traffic_approval(rec, gate.approval.approvers if gate.approval else [], rec.approval_expires)
        p.send(f"promote/{rec.key}/gate-approval", request)
    why = _failure(rec, gate, cluster, service, p)
    if why:
        return _end(rec, "failed", why, p)
    if p.clock() < rec.bake_until or asking:
        left = max(0, rec.bake_until - int(p.clock()))
        waiting = f"the bake on test traffic ({left // 60} min left)" if left else rec.waiting_on
        return HookAnswer("IN_PROGRESS", f"waiting on {waiting}", gate.callback_seconds)
    by = f"approved by {rec.decided_by}" if rec.decided_by else "the bake on test traffic ended clean"
    return _end(rec, "passed", by, p)


def _minutes(rec: PromotionRecord) -> int:
    began = datetime.fromisoformat(rec.started_at).timestamp() if rec.started_at else rec.approval_expires
    return int(rec.approval_expires - began) // 60


def _failure(rec: PromotionRecord, gate: TrafficGate, cluster: str, service: str, p: Promoter) -> str:
    """Why the new revision fails the gate now ("" when nothing is wrong)."""
    since = int(datetime.fromisoformat(rec.started_at).timestamp()) if rec.started_at else 0
    failures = windows_since(p.table, cluster, f"service:{service}", since)
    if failures:
        cause, w = failures[0]
        at = datetime.fromtimestamp(w.anchor, UTC).isoformat(timespec="seconds")
        return f"a task of {cluster}/{service} failed on test traffic ({cause}, at {at})"
    for name, state in alarm_states(gate.alarms, p).items():
        if state in ("ALARM", MISSING):
            return f"alarm {name} is {state}" if state == "ALARM" else f"alarm {name} does not exist"
    return ""


def _end(rec: PromotionRecord, to: Status, why: str, p: Promoter) -> HookAnswer:
    """One conditional move to an end; a gate that ended meanwhile keeps the end it has."""
    moved = TrafficGates(p.table).move(rec, to, ("baking", "awaiting_approval", "approved"), reason=why, waiting_on="")
    if moved is not None:
        count("TrafficGateEnded", how=to)
    return _ended(moved or TrafficGates(p.table).get(rec.repository, rec.stage, rec.digest) or rec, p)


def _ended(rec: PromotionRecord, p: Promoter) -> HookAnswer:
    """The answer of an ended gate, once its notification is delivered (a failed delivery: ECS asks again)."""
    why = rec.reason or (f"rejected by {rec.decided_by}" if rec.status == "rejected" else rec.status)
    if rec.status == "passed":
        p.send(f"promote/{rec.key}/gate-passed", notes.gate_passed(rec, why))
    else:
        p.send(f"promote/{rec.key}/gate-{rec.status}", notes.gate_failed(rec, why))
    return HookAnswer(ENDED[rec.status], why)


def _refuse(call: HookInvocation, p: Promoter, why: str) -> HookAnswer:
    """Fail closed: ECS rolls the deployment back, and people are told why."""
    logger.error("traffic gate refused the deployment", extra={"why": why, "service": call.details.service_arn})
    key = f"gate/{call.details.service_arn}/{call.execution_id}/refused"
    p.send(key, notes.gate_refused(call.details.service_arn, why))
    return HookAnswer("FAILED", why)


def held_approval(p: Promoter, repository: str, stage: str) -> bool:
    """Does the traffic gate of `stage` take the stage's approval (answered on the gate, not on a promotion)?"""
    gate = p.traffic_gate(repository, stage)
    return gate is not None and gate.approval is not None
