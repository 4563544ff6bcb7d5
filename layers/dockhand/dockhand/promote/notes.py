"""What the promotion flows tell people: released, waiting for an approval, stopped (and why)."""

from __future__ import annotations

from datetime import UTC, datetime

from dockhand import arns
from dockhand.config import Kind, Severity
from dockhand.notify.model import Button, Notification
from dockhand.promote.context import Gate
from dockhand.promote.verify import short
from dockhand.state.promotions import PromotionRecord

# The Slack buttons' action ids: the approver's function URL answers them.
APPROVE, REJECT = "dockhand_approve", "dockhand_reject"


def _fields(rec: PromotionRecord) -> dict[str, str]:
    return {
        "Repository": rec.repository,
        "Tag": rec.tag or "-",
        "Digest": rec.digest,
        "From": rec.from_stage or "-",
        "To": rec.stage,
    }


def _note(rec: PromotionRecord, kind: Kind, severity: Severity, what: str, text: str, **extra: str) -> Notification:
    return Notification(
        kind=kind,
        severity=severity,
        title=f"{rec.repository}:{rec.tag or short(rec.digest)} {what}",
        text=text,
        fields=_fields(rec) | extra,
        update_key=f"promote/{rec.key}",
        role="update" if kind != "promotion_approval" else "new",
    )


def released(rec: PromotionRecord, by: str) -> Notification:
    return _note(rec, "promotion_released", "info", f"promoted from {rec.from_stage} to {rec.stage}", by)


def stopped(rec: PromotionRecord, why: str) -> Notification:
    text = f"The walk stops here: {why}. `dockhand promote {rec.repository} {rec.digest} --to {rec.stage}` overrides."
    return _note(rec, "promotion_stopped", "error", f"not promoted to {rec.stage}", text, Reason=why)


def ended(rec: PromotionRecord, how: str, why: str) -> Notification:
    """A pending promotion that ends without a deploy: rejected, expired, superseded."""
    return _note(rec, "promotion_stopped", "warning", f"promotion to {rec.stage} {how}", why, Reason=why)


def approval(rec: PromotionRecord, gate: Gate, expires: int) -> Notification:
    who = ", ".join(gate.approval.approvers) if gate.approval else ""
    return _approval(rec, f"Verified in {rec.from_stage}.", who, expires)


def traffic_approval(rec: PromotionRecord, approvers: list[str], expires: int) -> Notification:
    """The lifecycle hook holds a blue/green deployment on test traffic until a person answers."""
    lead = f"The new revision takes test traffic in {rec.stage}; production traffic waits for an answer."
    return _approval(rec, lead, ", ".join(approvers), expires)


def _approval(rec: PromotionRecord, lead: str, who: str, expires: int) -> Notification:
    until = datetime.fromtimestamp(expires, UTC).isoformat(timespec="minutes")
    cli = f"dockhand approve {rec.repository} {rec.digest} --stage {rec.stage}"
    text = f"{lead} Approve or reject before {until} (or `{cli}`)."
    note = _note(rec, "promotion_approval", "warning", f"waits for approval to {rec.stage}", text, Approvers=who)
    buttons = [
        Button(label="Approve", action_id=APPROVE, value=rec.key, style="primary"),
        Button(label="Reject", action_id=REJECT, value=rec.key, style="danger"),
    ]
    return note.model_copy(update={"buttons": buttons})


def gate_passed(rec: PromotionRecord, by: str) -> Notification:
    """The traffic gate let production traffic in."""
    return _note(rec, "promotion_released", "info", f"passed the traffic gate of {rec.stage}", by)


def gate_failed(rec: PromotionRecord, why: str) -> Notification:
    """The traffic gate failed: ECS rolls the deployment back."""
    text = f"ECS rolls the deployment of {rec.stage} back: {why}."
    return _note(rec, "promotion_stopped", "error", f"failed the traffic gate of {rec.stage}", text, Reason=why)


def gate_refused(service_arn: str, why: str) -> Notification:
    """The hook refused a deployment it cannot gate (fail closed): ECS rolls it back."""
    cluster, service = arns.cluster_and_service(service_arn)
    return Notification(
        kind="promotion_stopped",
        severity="error",
        title=f"{cluster}/{service}: deployment refused by the traffic gate",
        text=f"ECS rolls the deployment back: {why}.",
        fields={"Service": service_arn, "Reason": why},
        cluster=cluster,
        service=service,
    )
