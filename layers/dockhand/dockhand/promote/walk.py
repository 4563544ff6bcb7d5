"""The walk's decisions: a bake ended, or a person promoted a digest; a verified digest is released to the deployer,
or waits for an approval, or the walk stops and says why.

Each decision is one claim (`promotion` scope, `<repository>@<digest>><stage>#<what>`) whose steps are the
promotion's status change (a conditional write: a promotion superseded, rejected or expired meanwhile is left as it
is), the message to the deployer (deduplicated by the promotion's key) and the notification; a redelivery resumes
at the first step not done.
"""

from __future__ import annotations

from typing import Any

from dockhand.errors import BadInputError
from dockhand.events import PromoteAction
from dockhand.observability import logger
from dockhand.promote import notes
from dockhand.promote.approvals import request_approval
from dockhand.promote.context import Gate, Promoter
from dockhand.promote.steps import finish, moved, release, stop
from dockhand.promote.verify import verify
from dockhand.state.claims import Claim, Claims
from dockhand.state.promotions import PromotionRecord, Promotions, StageRun


def end_bake(action: PromoteAction, p: Promoter) -> str:
    """The bake window of a promotion ended: verify, then release, ask for approval, or stop."""
    if p.not_due_yet(action):
        return "promote:baking"
    rec, gate = _promotion(action, p)
    claims = Claims(p.table, "promotion")
    begun = claims.peek(f"{rec.key}#bake")  # an earlier delivery decided already: resume it, whatever the status
    if begun is None and rec.status != "baking":
        return f"promote:{rec.status}"
    if begun is None or "verdict" not in begun.steps:
        verdict = verify(rec, gate, p)
        if verdict.state == "wait":
            Promotions(p.table).move(rec, "baking", ("baking",), waiting_on=verdict.why)
            p.later(action.model_copy(update={"not_before": int(p.clock()) + 60}))
            return "promote:waiting"
    claim = claims.open(f"{rec.key}#bake")
    if claim.done:
        return str(claim.result)
    decided = claim.once("verdict", lambda: {"state": verdict.state, "why": verdict.why})
    if decided["state"] == "stop":
        return finish(claim, stop(rec, decided["why"], p, claim))
    return finish(claim, proceed(rec, gate, p, claim, by=f"verified in {rec.from_stage}"))


def promote_now(action: PromoteAction, p: Promoter) -> str:
    """A person promotes a digest (`dockhand promote`): no bake; the stage it comes from must have completed it,
    it must not be held or rolled back, and an approval the stage asks for is still asked."""
    gate = p.gate(action.repository, action.stage)
    if gate is None:
        raise BadInputError(f"stage {action.stage!r} of {action.repository!r} is promoted from no stage")
    promotions = Promotions(p.table)
    key = f"{action.repository}@{action.digest}>{action.stage}"
    claim = Claims(p.table, "promotion").open(f"{key}#now#{action.request}")
    if claim.done:
        return str(claim.result)
    rec = promotions.get(action.repository, action.stage, action.digest)
    if rec is None:
        ran = promotions.run_of(action.repository, gate.from_stage, action.digest)
        if ran is None:
            why = f"{gate.from_stage} never completed a deployment of {action.digest}"
            logger.warning("promotion refused", extra={"why": why})
            asked = PromotionRecord(
                repository=action.repository, digest=action.digest, from_stage=gate.from_stage, stage=action.stage
            )
            p.send(f"promote/{asked.key}/refused/{action.request}", notes.stopped(asked, why))
            return finish(claim, f"promote:refused:{why}")
        rec = PromotionRecord.model_validate(claim.once("record", lambda: _record_for(action, ran, p)))
    if "reopened" not in claim.steps:
        if rec.status not in ("baking", "stopped", "expired", "superseded"):
            return finish(claim, f"promote:{rec.status}")
        verdict = verify(rec, gate, p, bake=False)
        if verdict.state != "ok":
            return finish(claim, stop(rec, verdict.why, p, claim, from_=(rec.status,)))
    reopened = claim.once("reopened", lambda: moved(p, rec, "baking", (rec.status, "baking"), reason=""))
    if reopened != "baking":
        return finish(claim, f"promote:{reopened}")
    return finish(claim, proceed(rec, gate, p, claim, by=f"promoted by {action.by or 'a person'} (bake skipped)"))


def _record_for(action: PromoteAction, ran: StageRun, p: Promoter) -> dict[str, Any]:
    """A promotion record for a digest the earlier stage completed but that has none into this stage yet."""
    now = int(p.clock())
    rec = PromotionRecord.of_run(ran, action.stage, now, now)
    Promotions(p.table).begin(rec)
    return rec.model_dump()


def proceed(rec: PromotionRecord, gate: Gate, p: Promoter, claim: Claim, *, by: str) -> str:
    """Verified: ask for the approval the stage wants, else release."""
    if gate.approval is not None:
        return request_approval(rec, gate, p, claim)
    return release(rec, p, claim, by=by, from_=("baking",))


def _promotion(action: PromoteAction, p: Promoter) -> tuple[PromotionRecord, Gate]:
    gate = p.gate(action.repository, action.stage)
    rec = Promotions(p.table).get(action.repository, action.stage, action.digest)
    if gate is None or rec is None:
        raise BadInputError(f"no promotion of {action.repository}@{action.digest} into {action.stage!r}")
    return rec, gate
