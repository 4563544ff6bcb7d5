"""What a deploy and a thousand stops cost in AWS charges, from measured usage and published prices.

Prices are US East (N. Virginia), on-demand, without free tiers (a small account pays nothing for most of
this; the figures compare per-unit cost). Each price names its source page and when it was read: the pages
were read through stored copies on 2026-12-05, and the date given is the one the copy or its summary carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PRICES_READ = "2026-12-05"


@dataclass(frozen=True)
class Price:
    usd: float
    per: str
    source: str
    as_of: str


PRICES: dict[str, Price] = {
    "lambda_arm64_gb_s": Price(
        0.0000133334,
        "GB-second (arm64, first 7.5 billion GB-s a month)",
        "https://aws.amazon.com/lambda/pricing/",
        "2024",
    ),
    "lambda_request": Price(0.20 / 1e6, "request", "https://aws.amazon.com/lambda/pricing/", "2024"),
    # SnapStart for Python: each published version's snapshot is charged while it is cached, and each execution
    # environment restored from it is charged by its memory.
    "lambda_snapstart_cache_gb_s": Price(
        0.0000015046, "GB-second of a cached snapshot (Python)", "https://aws.amazon.com/lambda/pricing/", "2024-11"
    ),
    "lambda_snapstart_restore_gb": Price(
        0.0001397998, "GB restored (Python)", "https://aws.amazon.com/lambda/pricing/", "2024-11"
    ),
    "sqs_standard_request": Price(
        0.40 / 1e6, "request (64 KB chunk)", "https://aws.amazon.com/sqs/pricing/", "2026-03"
    ),
    "sqs_fifo_request": Price(0.50 / 1e6, "request (64 KB chunk)", "https://aws.amazon.com/sqs/pricing/", "2026-03"),
    "dynamodb_write_request_unit": Price(
        0.625 / 1e6, "write request unit (on-demand)", "https://aws.amazon.com/dynamodb/pricing/on-demand/", "2025-07"
    ),
    "dynamodb_read_request_unit": Price(
        0.125 / 1e6, "read request unit (on-demand)", "https://aws.amazon.com/dynamodb/pricing/on-demand/", "2025-07"
    ),
    # Events AWS services put on the default bus (ECR pushes, ECS state changes) are free; custom events are not.
    "eventbridge_aws_service_event": Price(0.0, "event", "https://aws.amazon.com/eventbridge/pricing/", "2026"),
    "eventbridge_custom_event": Price(1.00 / 1e6, "event", "https://aws.amazon.com/eventbridge/pricing/", "2026"),
    "scheduler_invocation": Price(1.00 / 1e6, "invocation", "https://aws.amazon.com/eventbridge/pricing/", "2026"),
    "sns_publish": Price(0.50 / 1e6, "publish (standard topic)", "https://aws.amazon.com/sns/pricing/", "2026-06"),
    "secretsmanager_call": Price(0.05 / 1e4, "API call", "https://aws.amazon.com/secrets-manager/pricing/", "2026"),
    "codepipeline_v2_action_minute": Price(
        0.002, "action execution minute (V2)", "https://aws.amazon.com/codepipeline/pricing/", "2026"
    ),
}

# CodePipeline V2 with an ECR source action and an ECS (standard) deploy action: about a minute of source action
# plus the deploy action waiting for the rollout, 5-10 minutes; each action is rounded up to the minute.
CODEPIPELINE_ACTION_MINUTES = (6, 11)

# DynamoDB actions by what they bill (items of at most 1 KB written / 4 KB read: one unit each).
DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
DYNAMODB_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
# A batch bills each item it carries as its own read or write; a transaction bills each item twice
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html).
_PER_ITEM = {"BatchGetItem": 1, "BatchWriteItem": 1, "TransactGetItems": 2, "TransactWriteItems": 2}


def request_units(action: str, items: int) -> int:
    """The request units one call bills: per item (`items`) for DynamoDB's batches and transactions, else one."""
    return _PER_ITEM[action] * items if action in _PER_ITEM else 1


@dataclass
class Usage:
    """What AWS bills for some piece of work: Lambda time and requests, and the calls and messages around them."""

    invocations: int = 0
    lambda_ms: float = 0.0
    memory_mb: int = 256
    sqs_standard: int = 0
    sqs_fifo: int = 0
    dynamodb_reads: int = 0
    dynamodb_writes: int = 0
    sns_publishes: int = 0
    secrets_calls: int = 0
    aws_service_events: int = 0
    custom_events: int = 0
    scheduler_invocations: int = 0

    def _counted(self) -> list[str]:
        return [name for name in self.__dataclass_fields__ if name != "memory_mb"]

    def __add__(self, other: Usage) -> Usage:
        if self.memory_mb != other.memory_mb:
            raise ValueError("usages of functions with different memory sizes cannot be added")
        return Usage(memory_mb=self.memory_mb, **{n: getattr(self, n) + getattr(other, n) for n in self._counted()})

    def scaled(self, factor: float) -> Usage:
        return Usage(memory_mb=self.memory_mb, **{n: getattr(self, n) * factor for n in self._counted()})


@dataclass
class Cost:
    total: float
    parts: dict[str, float] = field(default_factory=dict)


def cost(usage: Usage, prices: dict[str, Price] = PRICES) -> Cost:
    gb_s = usage.lambda_ms / 1000 * usage.memory_mb / 1024
    parts = {
        "lambda duration": gb_s * prices["lambda_arm64_gb_s"].usd,
        "lambda requests": usage.invocations * prices["lambda_request"].usd,
        "sqs": usage.sqs_standard * prices["sqs_standard_request"].usd
        + usage.sqs_fifo * prices["sqs_fifo_request"].usd,
        "dynamodb": usage.dynamodb_writes * prices["dynamodb_write_request_unit"].usd
        + usage.dynamodb_reads * prices["dynamodb_read_request_unit"].usd,
        "sns": usage.sns_publishes * prices["sns_publish"].usd,
        "secrets manager": usage.secrets_calls * prices["secretsmanager_call"].usd,
        "eventbridge": usage.aws_service_events * prices["eventbridge_aws_service_event"].usd
        + usage.custom_events * prices["eventbridge_custom_event"].usd
        + usage.scheduler_invocations * prices["scheduler_invocation"].usd,
    }
    return Cost(total=sum(parts.values()), parts=parts)


def codepipeline_per_deploy(prices: dict[str, Price] = PRICES) -> tuple[float, float]:
    rate = prices["codepipeline_v2_action_minute"].usd
    low, high = CODEPIPELINE_ACTION_MINUTES
    return low * rate, high * rate


def usage_from_calls(
    calls: dict[str, int],
    *,
    invocations: int,
    lambda_ms: float,
    memory_mb: int = 256,
    fifo_queue_calls: int = 0,
    units: dict[str, int] | None = None,
) -> Usage:
    """Usage from AWS calls counted as `service:Action` (what the handler itself called), and what they billed
    (`units`, by the same keys: a DynamoDB batch's items; where absent, one unit a call).

    `fifo_queue_calls` of the SQS calls went to a FIFO queue (priced higher); the rest are standard.
    """
    units = {**calls, **(units or {})}
    sqs = sum(n for key, n in calls.items() if key.startswith("sqs:"))
    return Usage(
        invocations=invocations,
        lambda_ms=lambda_ms,
        memory_mb=memory_mb,
        sqs_standard=sqs - fifo_queue_calls,
        sqs_fifo=fifo_queue_calls,
        dynamodb_reads=sum(n for key, n in units.items() if key.split(":")[-1] in DYNAMODB_READS),
        dynamodb_writes=sum(n for key, n in units.items() if key.split(":")[-1] in DYNAMODB_WRITES),
        sns_publishes=calls.get("sns:Publish", 0),
        secrets_calls=sum(n for key, n in calls.items() if key.startswith("secretsmanager:")),
    )


def snapstart(functions: int, memory_mb: int = 256, prices: dict[str, Price] = PRICES) -> tuple[float, float]:
    """What Lambda SnapStart would add: a month of one snapshot per function cached, and one restored cold start."""
    gb = memory_mb / 1024
    month = functions * gb * 30 * 86400 * prices["lambda_snapstart_cache_gb_s"].usd
    return month, gb * prices["lambda_snapstart_restore_gb"].usd


def cost_figure(
    warm: dict[str, Any], storm: dict[str, Any], functions: int = 4
) -> tuple[list[tuple[str, str, str, bool | None]], dict]:
    """Cost per deploy and per 1,000 stops from the bench's measured figures (warm flows, crash storm).

    Lambda time is the handler's measured wall time (moto standing in for AWS latency), at the template's 256 MB.
    A deploy is one push plus the two deployment events it causes; every message passes one SQS queue (sent by
    EventBridge, received and deleted by Lambda's poller: 3 requests, FIFO for the deploy queue). Returns rows as
    (measure, value, goal, met) and the figures, with what SnapStart would add for `functions` functions.
    """

    def flow(name: str, fifo: bool = False) -> Usage:
        f = warm[name]
        queued = Usage(sqs_fifo=3) if fifo else Usage(sqs_standard=3)
        usage = usage_from_calls(f["aws_calls"], invocations=1, lambda_ms=f["wall_ms"], units=f.get("billed_units"))
        return usage + queued

    deploy = flow("push", fifo=True) + flow("deployment in progress") + flow("deployment completed")
    deploy_cost = cost(deploy)
    low, high = codepipeline_per_deploy()
    isolated = cost(flow("stop").scaled(1000))
    stops = storm["stops"]
    storm_usage = usage_from_calls(
        storm["aws_calls"],
        invocations=storm["invocations"],
        lambda_ms=storm["lambda_ms"],
        units=storm.get("billed_units"),
    )
    # EventBridge sends each stop; the poller receives and deletes once per batch
    storm_usage = storm_usage + Usage(sqs_standard=stops + 2 * storm["invocations"])
    storm_cost = cost(storm_usage.scaled(1000 / stops))
    rows: list[tuple[str, str, str, bool | None]] = [
        (
            "per deploy (one service): push + 2 deployment events",
            f"{_usd(deploy_cost.total)} ({_parts(deploy_cost)})",
            f"below CodePipeline V2: {_usd(low)}-{_usd(high)} ({CODEPIPELINE_ACTION_MINUTES[0]}-"
            f"{CODEPIPELINE_ACTION_MINUTES[1]} action-minutes x ${PRICES['codepipeline_v2_action_minute'].usd})",
            deploy_cost.total < low,
        ),
        ("per 1,000 stops, each its own alert", f"{_usd(isolated.total)} ({_parts(isolated)})", "", None),
        (
            f"per 1,000 stops in a crash storm ({stops} stops of one service)",
            f"{_usd(storm_cost.total)} ({_parts(storm_cost)})",
            "",
            None,
        ),
    ]
    cached_month, restore = snapstart(functions)
    rows.append(
        (
            f"Lambda SnapStart, were it on ({functions} functions at 256 MB; not offered, see the text below)",
            f"{_usd(cached_month)} a month for their cached snapshots, plus {_usd(restore)} per cold start restored",
            "",
            None,
        )
    )
    figures = {
        "per_deploy_usd": deploy_cost.total,
        "per_deploy_parts": deploy_cost.parts,
        "codepipeline_v2_per_deploy_usd": [low, high],
        "per_1000_isolated_stops_usd": isolated.total,
        "per_1000_storm_stops_usd": storm_cost.total,
        "per_1000_storm_stops_parts": storm_cost.parts,
        "snapstart_month_usd": cached_month,
        "snapstart_restore_usd": restore,
        "prices": {
            name: {"usd": p.usd, "per": p.per, "source": p.source, "as_of": p.as_of} for name, p in PRICES.items()
        },
        "prices_read": PRICES_READ,
    }
    return rows, figures


def _usd(value: float) -> str:
    return f"${value:.6f}" if value < 0.01 else f"${value:.4f}"


def _parts(c: Cost) -> str:
    return ", ".join(f"{name} {_usd(v)}" for name, v in sorted(c.parts.items(), key=lambda kv: -kv[1]) if v > 0)
