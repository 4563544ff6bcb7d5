"""What the promotion flows tell people: released, waiting for an approval, stopped (and why)."""

from __future__ import annotations

from datetime import UTC, datetime

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
        "From": rec.from_stage,
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
    until = datetime.fromtimestamp(expires, UTC).isoformat(timespec="minutes")
    cli = f"dockhand approve {rec.repository} {rec.digest} --stage {rec.stage}"
    text = f"Verified in {rec.from_stage}. Approve or reject before {until} (or `{cli}`)."
    who = ", ".join(gate.approval.approvers) if gate.approval else ""
    note = _note(rec, "promotion_approval", "warning", f"waits for approval to {rec.stage}", text, Approvers=who)
    buttons = [
        Button(label="Approve", action_id=APPROVE, value=rec.key, style="primary"),
        Button(label="Reject", action_id=REJECT, value=rec.key, style="danger"),
    ]
    return note.model_copy(update={"buttons": buttons})
