"""A promotion: a digest verified (and approved) in one stage goes to the next stage's services through the push's
own path — the same ledger (never backwards: a promotion older than what the stage runs is skipped), the same claims
(exactly once: the promotion's key owns them), the same notifications.

The promotion record must be `deploying` (the promotion flow moved it there before it sent this message); once the
services are updated it is `deployed` (`stopped`, with the reasons, when every service refused it), and the stage's
completed deployment is what a further promotion waits for.
"""

from __future__ import annotations

from dockhand.deploy.admission import accepted_targets
from dockhand.deploy.context import Deployer, Push
from dockhand.deploy.push import roll_out
from dockhand.deploy.report import DeployReport
from dockhand.events import PromotionMessage
from dockhand.observability import count, logger
from dockhand.state.promotions import Promotions


def deploy_promotion(msg: PromotionMessage, d: Deployer) -> DeployReport:
    """Deploy a promoted digest to every service of its stage."""
    push = Push(
        event_id=f"promote:{msg.key}",
        repository=msg.repository,
        tag=msg.tag,
        digest=msg.digest,
        pushed_at=msg.pushed_at,
        account=msg.account,
        region=msg.region,
    )
    report = DeployReport(push=push)
    promotions = Promotions(d.table) if d.table is not None else None
    rec = promotions.get(msg.repository, msg.stage, msg.digest) if promotions else None
    if promotions is not None and (rec is None or rec.status not in ("deploying", "deployed")):
        logger.warning(
            "promotion not released: nothing deployed",
            extra={"promotion": msg.key, "status": rec.status if rec else None},
        )
        count("DeploySkipped", reason="promotion_not_released")
        report.ignored = "promotion_not_released"
        return report
    targets = d.section.stage_targets(msg.repository, msg.stage)
    roll_out(d, report, accepted_targets(d, report, targets))
    if promotions is not None and rec is not None:
        moved = [
            o
            for o in report.outcomes
            if o.action in ("updated", "planned") or o.reason in ("already_running", "unchanged")
        ]
        if moved or not report.outcomes:
            promotions.move(rec, "deployed", ("deploying",), waiting_on="the deployment to complete")
        else:  # every service refused it (older than what runs, held, missing): said by the deploy's notifications
            why = "; ".join(sorted({f"{o.cluster}/{o.service}: {o.reason}" for o in report.outcomes}))
            promotions.move(rec, "stopped", ("deploying",), reason=f"not deployed ({why})", waiting_on="")
    count("PromotionDeployed", stage=msg.stage)
    return report
