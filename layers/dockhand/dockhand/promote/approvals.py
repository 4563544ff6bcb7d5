"""The approval gate: a verified promotion into a stage that asks for one waits for a person.

The request is one step of the bake's claim: the promotion moves to `awaiting_approval` (with its expiry), a
delayed `expire` message is queued for the expiry, and the request goes to every channel (in Slack bot mode with
Approve / Reject buttons). An answer (`decide`: the Slack interaction, or `dockhand approve|reject`) is one
conditional write — only a pending, unexpired promotion takes it, only from a declared approver — followed by a
`decided` message that releases the promotion or says it was rejected. An unanswered request expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dockhand.config import Approval
from dockhand.errors import BadInputError
from dockhand.events import PromoteAction
from dockhand.observability import count, logger
from dockhand.promote import notes
from dockhand.promote.context import Gate, Promoter
from dockhand.promote.steps import finish, moved, release
from dockhand.promote.traffic import held_approval
from dockhand.state.claims import Claim, Claims
from dockhand.state.promotions import PromotionRecord, Promotions, Status, TrafficGates

Decision = Literal["approve", "reject"]


def request_approval(rec: PromotionRecord, gate: Gate, p: Promoter, claim: Claim) -> str:
    assert gate.approval is not None
    expires = int(p.clock()) + gate.approval.expires_minutes * 60
    who = ", ".join(gate.approval.approvers)
    moved = claim.once(
        "requested",
        lambda: _requested(p, rec, expires, f"an approval by {who}"),
    )
    if moved["status"] != "awaiting_approval":
        return f"promote:{moved['status']}"
    expires = int(moved["expires"])
    claim.once("expiry", lambda: p.later(_action(rec, "expire", not_before=expires)))
    count("PromotionApprovalRequested", stage=rec.stage)
    p.send(f"promote/{rec.key}/approval", notes.approval(rec, gate, expires))
    return "promote:awaiting_approval"


def _requested(p: Promoter, rec: PromotionRecord, expires: int, waiting_on: str) -> dict[str, str | int]:
    moved = Promotions(p.table).move(
        rec, "awaiting_approval", ("baking",), approval_expires=expires, waiting_on=waiting_on
    )
    current = moved or Promotions(p.table).get(rec.repository, rec.stage, rec.digest)
    status = current.status if current else "baking"
    return {"status": status, "expires": current.approval_expires if current else expires}


def _action(rec: PromotionRecord, action: Literal["decided", "expire"], not_before: int = 0) -> PromoteAction:
    return PromoteAction(
        dockhand="promote",
        action=action,
        repository=rec.repository,
        digest=rec.digest,
        stage=rec.stage,
        not_before=not_before,
    )


@dataclass(frozen=True)
class Answer:
    ok: bool
    text: str  # what the person is told


def decide(
    p: Promoter,
    repository: str,
    digest: str,
    stage: str,
    decision: Decision,
    who: str,
    groups: tuple[str, ...] = (),
) -> Answer:
    """A person's answer to a pending approval: taken only from a declared approver, only while it is pending and
    not expired (one conditional write); then a `decided` message finishes it (release or rejection). The approval
    of a stage whose traffic gate holds it is answered on the gate instead: the lifecycle hook's next call reads
    it (nothing is released: the deployment is under way already)."""
    held = held_approval(p, repository, stage)
    store = TrafficGates(p.table) if held else Promotions(p.table)
    approval = stage_approval(p, repository, stage)
    rec = store.get(repository, stage, digest)
    if approval is None or rec is None:
        return Answer(False, f"no approval is asked for {repository}@{digest} into {stage}")
    if not approval.allows(who, groups):
        logger.warning("approval refused: not an approver", extra={"who": who, "promotion": rec.key})
        count("PromotionAnswerRefused", reason="not_an_approver")
        return Answer(False, f"{who} is not among the approvers of {stage}")
    to: Status = "approved" if decision == "approve" else "rejected"
    taken = f"{to.capitalize()} by {who}: {rec.repository}:{rec.tag or digest} to {stage}"
    if held:
        taken += " (the traffic gate answers ECS at its next call)"
    if rec.status == to and rec.decided_by == who:
        # The same answer again (the first one's `decided` message may not have gone out): send it again.
        _finish_later(p, rec, held)
        return Answer(True, taken)
    if rec.status != "awaiting_approval":
        return Answer(False, f"the promotion of {rec.repository}:{rec.tag} to {stage} is {rec.status}, not pending")
    if p.clock() >= rec.approval_expires:
        return Answer(False, f"the approval request expired at {rec.approval_expires}")
    if store.move(rec, to, ("awaiting_approval",), decided_by=who, waiting_on="") is None:
        return Answer(False, "the promotion was answered or ended meanwhile")
    _finish_later(p, rec, held)
    count("PromotionAnswered", decision=to)
    return Answer(True, taken)


def stage_approval(p: Promoter, repository: str, stage: str) -> Approval | None:
    """The approval `stage` asks: its traffic gate's when the gate holds it, else the promotion's."""
    if held_approval(p, repository, stage):
        traffic = p.traffic_gate(repository, stage)
        return traffic.approval if traffic else None
    gate = p.gate(repository, stage)
    return gate.approval if gate else None


def _finish_later(p: Promoter, rec: PromotionRecord, held: bool) -> None:
    """A promotion's answer is finished by the watcher (`decided`); a held gate's by the hook's next call."""
    if not held:
        p.later(_action(rec, "decided"))


def decided(action: PromoteAction, p: Promoter) -> str:
    """An approval was answered: release an approved promotion, tell a rejected one."""
    rec = Promotions(p.table).get(action.repository, action.stage, action.digest)
    if rec is None:
        raise BadInputError(f"no promotion of {action.repository}@{action.digest} into {action.stage!r}")
    if rec.status not in ("approved", "rejected", "deploying", "deployed"):
        return f"promote:{rec.status}"
    claim = Claims(p.table, "promotion").open(f"{rec.key}#decided")
    if claim.done:
        return str(claim.result)
    if rec.status == "rejected":
        count("PromotionEnded", how="rejected")
        why = f"rejected by {rec.decided_by}"
        p.send(f"promote/{rec.key}/rejected", notes.ended(rec, "rejected", why))
        return finish(claim, "promote:rejected")
    return finish(claim, release(rec, p, claim, by=f"approved by {rec.decided_by}", from_=("approved",)))


def expire(action: PromoteAction, p: Promoter) -> str:
    """An approval request's time ran out: a promotion still pending expires (nothing deploys), and says so."""
    if p.not_due_yet(action):
        return "promote:awaiting_approval"
    rec = Promotions(p.table).get(action.repository, action.stage, action.digest)
    if rec is None:
        raise BadInputError(f"no promotion of {action.repository}@{action.digest} into {action.stage!r}")
    claim = Claims(p.table, "promotion").open(f"{rec.key}#expire")
    if claim.done:
        return str(claim.result)
    status = claim.once("expired", lambda: moved(p, rec, "expired", ("awaiting_approval",), waiting_on=""))
    if status != "expired":
        return finish(claim, f"promote:{status}")
    count("PromotionEnded", how="expired")
    why = f"nobody answered the approval request within {_minutes(p, rec)} min"
    p.send(f"promote/{rec.key}/expired", notes.ended(rec, "expired", why))
    return finish(claim, "promote:expired")


def _minutes(p: Promoter, rec: PromotionRecord) -> int:
    gate = p.gate(rec.repository, rec.stage)
    return gate.approval.expires_minutes if gate and gate.approval else 0
