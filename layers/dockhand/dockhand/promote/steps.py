"""The recorded steps every promotion decision ends with: release to the deployer, or stop and say why.

Each is a step of the decision's claim: the promotion's status change is a conditional write (a promotion superseded,
rejected or expired meanwhile is left as it is, and the step records the status it found), the message to the
deployer is deduplicated by the promotion's key, and each notification remembers the channels that delivered it.
"""

from __future__ import annotations

from typing import Any

from dockhand.events import PromotionMessage
from dockhand.observability import count
from dockhand.promote import notes
from dockhand.promote.context import Promoter
from dockhand.state.claims import Claim
from dockhand.state.promotions import PromotionRecord, Promotions, Status


def release(rec: PromotionRecord, p: Promoter, claim: Claim, *, by: str, from_: tuple[Status, ...]) -> str:
    """The promotion goes to the deployer (the deploy queue), and people are told."""
    status = claim.once("released", lambda: moved(p, rec, "deploying", from_, waiting_on=f"the deploy to {rec.stage}"))
    if status != "deploying":
        return f"promote:{status}"
    claim.once("sent", lambda: _send(rec, p))
    count("PromotionReleased", stage=rec.stage)
    p.send(f"promote/{rec.key}/released", notes.released(rec, by))
    return "promote:released"


def stop(rec: PromotionRecord, why: str, p: Promoter, claim: Claim, from_: tuple[Status, ...] = ("baking",)) -> str:
    """The walk stops at this stage, and says why."""
    status = claim.once("stopped", lambda: moved(p, rec, "stopped", from_, reason=why, waiting_on=""))
    if status != "stopped":
        return f"promote:{status}"
    count("PromotionEnded", how="stopped")
    p.send(f"promote/{rec.key}/stopped", notes.stopped(rec, why))
    return "promote:stopped"


def _send(rec: PromotionRecord, p: Promoter) -> str:
    if p.queues is None:
        raise RuntimeError("no deploy queue to release the promotion to")
    p.queues.release(
        PromotionMessage(
            dockhand="promotion",
            repository=rec.repository,
            digest=rec.digest,
            tag=rec.tag,
            pushed_at=rec.pushed_at or rec.started_at,  # type: ignore[arg-type]
            stage=rec.stage,
            from_stage=rec.from_stage,
            account=rec.account,
            region=rec.region,
        )
    )
    return "sent"


def moved(p: Promoter, rec: PromotionRecord, to: Status, from_: tuple[Status, ...], **fields: Any) -> str:
    """Move the promotion; the status it has now (another one when it had moved elsewhere meanwhile)."""
    moved = Promotions(p.table).move(rec, to, from_, **fields)
    if moved is not None:
        return moved.status
    current = Promotions(p.table).get(rec.repository, rec.stage, rec.digest)
    return current.status if current is not None else to


def finish(claim: Claim, outcome: str) -> str:
    claim.finish(outcome)
    return outcome
