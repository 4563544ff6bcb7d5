"""A stage completed a deployment: remember what the stage runs, and start the bake of each stage promoted from it.

Called by the watcher's deployment-outcome flow as one recorded step of a COMPLETED outcome. Each promotion is one
record (`state/promotions.py`, written once: a later completion of another service of the stage finds it) and one
delayed message that ends its bake (`end_bake` on the watcher's queue, at `bake_until`: no Lambda waits). A newer
digest supersedes an older one still pending for the same stage.
"""

from __future__ import annotations

from datetime import datetime

from dockhand import arns, images
from dockhand.events import PromoteAction
from dockhand.observability import count
from dockhand.promote import notes
from dockhand.promote.context import Promoter
from dockhand.state.deployments import DeploymentRecord
from dockhand.state.ledger import Ledger
from dockhand.state.promotions import PENDING, PromotionRecord, Promotions, StageRun


def stage_completed(rec: DeploymentRecord, p: Promoter, completed_at: datetime | None = None) -> list[str]:
    """What was done for a completed deployment of a stage's target (nothing for a target without a stage).

    The bake counts from `completed_at` (when ECS says the deployment completed), not from when the event was
    handled: a task that failed between the two failed during the bake."""
    target = p.config.deploy.target(rec.target)
    if target is None or target.stage is None:
        return []
    promotions = Promotions(p.table)
    arn = arns.ecs_arn(rec.service_arn, "service")
    # The digest walks from the registry the stage pulled it from (a central one, when the stage is in another
    # account or Region): the next stage's default registry and the account its push time is read in.
    account, region = images.ecr_place(rec.image) or (arn.account, arn.region)
    pushed_at = Ledger(p.table).read(rec.service_arn).pushed_at or ""
    run = StageRun(
        repository=rec.repository,
        stage=target.stage,
        digest=rec.digest,
        tag=rec.tag,
        pushed_at=pushed_at,
        account=account,
        region=region,
    )
    promotions.ran(run)
    done = [f"{target.stage} runs {rec.digest}"]
    began = int(min(completed_at.timestamp(), p.clock())) if completed_at else int(p.clock())
    for stage in p.config.deploy.next_stages(rec.repository, target.stage):
        gate = p.gate(rec.repository, stage)
        assert gate is not None  # a next stage is one some target is promoted into
        waiting_on = f"the bake in {target.stage} ({gate.bake_minutes} min)"
        promotion = PromotionRecord.of_run(run, stage, began, began + gate.bake_minutes * 60, waiting_on)
        if promotions.begin(promotion):
            count("PromotionStarted", stage=stage)
        current = promotions.get(rec.repository, stage, rec.digest) or promotion
        if current.status == "baking":
            supersede(promotions, current, p)
            p.later(_end_bake(current))
            done.append(f"bake into {stage} until {current.bake_until}")
    return done


def _end_bake(rec: PromotionRecord) -> PromoteAction:
    return PromoteAction(
        dockhand="promote",
        action="end_bake",
        repository=rec.repository,
        digest=rec.digest,
        stage=rec.stage,
        not_before=rec.bake_until,
    )


def supersede(promotions: Promotions, newer: PromotionRecord, p: Promoter) -> None:
    """Older digests still pending for the stage end here: the newer one walks instead."""
    for older in promotions.into(newer.repository, newer.stage):
        why = f"{newer.repository}:{newer.tag or newer.digest} is newer and walks to {newer.stage} instead"
        again = older.status == "superseded" and older.reason == why  # an earlier attempt moved it: tell again
        if older.digest == newer.digest or older.pushed_at > newer.pushed_at or not (older.pending or again):
            continue
        if again or promotions.move(older, "superseded", PENDING, reason=why, waiting_on="") is not None:
            count("PromotionEnded", how="superseded")
            p.send(f"promote/{older.key}/superseded", notes.ended(older, "superseded", why))
