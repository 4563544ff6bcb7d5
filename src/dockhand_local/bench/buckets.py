"""ECS's published API token buckets, and a replay of a recorded call sequence through them.

ECS throttles per account and Region with one token bucket per group of actions: a bucket holds at most `burst`
tokens, each call takes one, and `refill` tokens come back every second. Replaying what a deployer called, in
order, with the time it spent between calls, gives the wall time those buckets impose on a push.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Amazon ECS API request throttling, "Request throttling for the Amazon ECS API" (bucket maximum capacity = burst,
# bucket refill rate = sustained per second), default quotas per account and Region.
# Source: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html
# (the same table in the Developer Guide: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/request-throttling.html)
# Default quotas as that page gave them when read on 2026-12-05 (a stored copy; AWS can change them, and raises
# them per account on request).
ECS_BUCKETS_AS_OF = "2026-12-05"
ECS_BUCKETS_SOURCE = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html"


@dataclass(frozen=True)
class Bucket:
    name: str
    burst: float
    refill: float  # tokens per second
    actions: frozenset[str]


ECS_BUCKETS: tuple[Bucket, ...] = (
    Bucket("task definition modify", 20, 1, frozenset({"RegisterTaskDefinition", "DeregisterTaskDefinition"})),
    Bucket(
        "task definition read",
        50,
        20,
        frozenset({"DescribeTaskDefinition", "ListTaskDefinitions", "ListTaskDefinitionFamilies"}),
    ),
    Bucket("service modify", 50, 5, frozenset({"CreateService", "UpdateService", "DeleteService"})),
    Bucket("service read", 100, 20, frozenset({"DescribeServices", "ListServices"})),
    Bucket("cluster resource modify", 100, 40, frozenset({"RunTask", "StartTask", "StopTask"})),
    Bucket("cluster resource read", 100, 20, frozenset({"DescribeTasks", "ListTasks"})),
    Bucket("cluster read", 50, 20, frozenset({"DescribeClusters", "ListClusters"})),
    Bucket("tag read", 50, 20, frozenset({"ListTagsForResource"})),
    Bucket("tag modify", 20, 10, frozenset({"TagResource", "UntagResource"})),
)


def bucket_for(action: str, buckets: Iterable[Bucket] = ECS_BUCKETS) -> Bucket | None:
    return next((b for b in buckets if action in b.actions), None)


@dataclass(frozen=True)
class Call:
    """One recorded ECS call: its action, and the seconds the caller spent on its own before issuing it."""

    action: str
    gap: float = 0.0


@dataclass(frozen=True)
class Replay:
    seconds: float  # projected wall time of the whole sequence
    waited: float  # of which spent waiting for tokens
    throttled: int  # calls that found their bucket empty (a real client gets ThrottlingException and backs off)


def replay(calls: Iterable[Call], buckets: Iterable[Bucket] = ECS_BUCKETS) -> Replay:
    """Issue the calls one after another, each when the caller is ready and its bucket has a token.

    Buckets start full (an account at rest). Network latency is not added: the figure is what the buckets and
    the caller's own work impose, so two deployers compared this way differ only by what they call and when.
    """
    table = list(buckets)
    tokens = {b.name: float(b.burst) for b in table}
    refilled_at = dict.fromkeys(tokens, 0.0)
    now = waited = 0.0
    throttled = 0
    for call in calls:
        now += call.gap
        bucket = bucket_for(call.action, table)
        if bucket is None:
            continue
        level = min(bucket.burst, tokens[bucket.name] + (now - refilled_at[bucket.name]) * bucket.refill)
        if level < 1.0:
            wait = (1.0 - level) / bucket.refill
            throttled += 1
            waited += wait
            now += wait
            level = 1.0
        tokens[bucket.name] = level - 1.0
        refilled_at[bucket.name] = now
    return Replay(seconds=now, waited=waited, throttled=throttled)
