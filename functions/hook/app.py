"""Hook: Amazon ECS's deployment lifecycle hook for blue/green services (for example at POST_TEST_TRAFFIC_SHIFT).
ECS invokes it synchronously and reads `hookStatus`: IN_PROGRESS while the stage's traffic gate holds, SUCCEEDED
when it passed, FAILED when it failed (ECS rolls back). The answer is `dockhand.promote.traffic`'s; it never
raises, since an exception would roll the deployment back."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from dockhand import deps
from dockhand.aws.ecs import Ecs
from dockhand.observability import logger, metrics, traced
from dockhand.promote.context import Promoter
from dockhand.promote.traffic import answer


def collaborators() -> tuple[Promoter, Ecs]:
    """Built inside the answer: a declarations file that cannot be read answers FAILED, never an exception."""
    promoter = Promoter(
        config=deps.config(),
        table=deps.table(),
        notifier=deps.notifier(),
        queues=None,
        cloudwatch=deps.client("cloudwatch"),
    )
    return promoter, Ecs(deps.client("ecs"))


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return answer(event, collaborators).reply()
