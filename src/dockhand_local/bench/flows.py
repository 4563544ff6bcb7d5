"""Figures 2-4: what each flow costs warm, one push fanned out to 100 services through ECS's token buckets (beside a
naive deployer), and a crash storm of 500 stops — all through the real handlers, each in a process of its own."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dockhand_local.bench.buckets import ECS_BUCKETS_AS_OF, ECS_BUCKETS_SOURCE, Call, Replay, replay
from dockhand_local.bench.costs import DYNAMODB_READS, DYNAMODB_WRITES
from dockhand_local.bench.report import Result, Row, counts, ms
from dockhand_local.bench.world import REGISTRY, Fleet, Invocation, World
from dockhand_local.stack import ROOT

FAN_OUT = Fleet("fan100", services=100, clusters=3, families=10)
FAN_SMALL = Fleet("fan12", services=12, clusters=2, families=3)
FLEETS = (FAN_SMALL, FAN_OUT)
FAN_OUT_GOAL_S = 11.0
STORM_NOTIFICATIONS_GOAL = 3  # per channel


@dataclass
class Flow:
    """One flow measured warm: every invocation's cost (the calls are the same each time; the last run's are kept)."""

    name: str
    function: str
    runs: list[Invocation] = field(default_factory=list)

    @property
    def own_ms(self) -> float:
        return statistics.median(r.own_ms for r in self.runs)

    @property
    def ms(self) -> float:
        return statistics.median(r.ms for r in self.runs)

    @property
    def calls(self) -> Counter[str]:
        return self.runs[-1].counts()

    @property
    def units(self) -> Counter[str]:
        return self.runs[-1].units()

    def as_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "runs": len(self.runs),
            "handler_ms": self.own_ms,
            "wall_ms": self.ms,
            "aws_calls": dict(sorted(self.calls.items())),
            "billed_units": dict(sorted(self.units.items())),
        }


def _failures(invocation: Invocation) -> None:
    result = invocation.result if isinstance(invocation.result, dict) else {}
    if result.get("batchItemFailures"):
        raise RuntimeError(f"a bench record failed: {result}")


# -------------------------------------------------------------------------------------------- 2 warm cost
def warm(world: World, iterations: int) -> tuple[Result, dict[str, Flow]]:
    """Every flow `iterations` times after one run that warms the function (clients made, caches filled)."""
    flows = {
        name: Flow(name, function)
        for name, function in (
            ("push", "deployer"),
            ("stop", "watcher"),
            ("crash-storm stop", "watcher"),
            ("deployment in progress", "watcher"),
            ("deployment completed", "watcher"),
            ("job launch", "batch"),
            ("job completion", "batch"),
        )
    }
    day = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)
    with world.worker("deployer") as deployer, world.worker("watcher") as watcher, world.worker("batch") as batch:

        def run(worker: Any, flow: str | None, event: dict[str, Any]) -> Invocation:
            invocation = worker.invoke(event)
            _failures(invocation)
            if flow is not None:
                flows[flow].runs.append(invocation)
            return invocation

        for i in range(iterations + 1):
            measured = i > 0  # the first round warms each function
            # push, then the deployment it started goes through its states
            deployment = world.new_deployment_id("web-c0", "web-s000")
            run(deployer, "push" if measured else None, world.push("web", f"1.{world.next('web')}.0"))
            for state in ("IN_PROGRESS", "COMPLETED"):
                event = world.deployment_event("web-c0", "web-s000", deployment, f"SERVICE_DEPLOYMENT_{state}")
                run(watcher, f"deployment {state.lower().replace('_', ' ')}" if measured else None, wrap(world, event))
            # a stop that alerts (a service of its own), and one inside a crash loop's open window
            crash = world.crash(f"api-{world.next('stop-group')}", i)
            run(watcher, "stop" if measured else None, wrap(world, crash))
            run(watcher, "crash-storm stop" if measured else None, wrap(world, world.crash("api-looping", i)))
            # a job launches and its task exits 0
            known = set(world.job_tasks())
            run(
                batch, "job launch" if measured else None, world.job_launch(day + timedelta(days=world.next("job-day")))
            )
            [task] = [t for t in world.job_tasks() if t not in known]
            run(batch, "job completion" if measured else None, world.job_stopped(task, 0))

    rows = [
        Row(
            "2 warm cost per event",
            f"{flow.name} ({flow.function}; median of {len(flow.runs)})",
            f"{ms(flow.own_ms)} handler time; AWS calls {sum(flow.calls.values())}: {counts(flow.calls)}",
        )
        for flow in flows.values()
    ]
    return Result(rows, {name: flow.as_dict() for name, flow in flows.items()}), flows


def wrap(world: World, event: dict[str, Any]) -> dict[str, Any]:
    return world.sqs("WatchQueue", event)


# -------------------------------------------------------------------------------------------- 3 fan-out
def ecs_sequence(invocation: Invocation) -> list[Call]:
    """The ECS calls of one invocation in order, each with the handler's own time since its previous AWS call
    (time inside other AWS calls is latency, which the replay leaves out for every caller alike)."""
    out, last_end = [], 0.0
    for service, action, start, end in sorted(invocation.calls, key=lambda c: c[2]):
        gap = max(0.0, start - last_end) / 1000
        last_end = max(last_end, end)
        if service == "ecs":
            out.append(Call(action, gap))
    return out


def naive_deploy(ecs: Any, services: list[tuple[str, str]], image: str) -> list[Call]:
    """NAIVE DEPLOYER, for comparison only (not Dockhand): what a hand-written push-to-deploy Lambda usually does.

    For every service, one after another: describe it, read its task definition, register a copy with the new
    image, point the service at it. Returns the ECS calls it made, in order, with the time it spent between them.
    """
    import time

    calls: list[Call] = []
    last = time.perf_counter()

    def call(action: str, **kwargs: Any) -> dict[str, Any]:
        nonlocal last
        started = time.perf_counter()
        response = getattr(ecs, _snake(action))(**kwargs)
        calls.append(Call(action, started - last))
        last = time.perf_counter()
        return dict(response)

    for cluster, service in services:
        svc = call("DescribeServices", cluster=cluster, services=[service])["services"][0]
        td = call("DescribeTaskDefinition", taskDefinition=svc["taskDefinition"])["taskDefinition"]
        keep = ("family", "containerDefinitions", "taskRoleArn", "executionRoleArn", "networkMode", "volumes")
        spec = {k: td[k] for k in keep if td.get(k)}
        for container in spec["containerDefinitions"]:
            if container["image"].startswith(image.rsplit(":", 1)[0] + ":"):
                container["image"] = image
        new = call("RegisterTaskDefinition", **spec)["taskDefinition"]["taskDefinitionArn"]
        call("UpdateService", cluster=cluster, service=service, taskDefinition=new)
    return calls


def _snake(action: str) -> str:
    from botocore import xform_name

    return str(xform_name(action))


def _dynamodb(invocation: Invocation) -> tuple[int, int]:
    c = invocation.counts()
    reads = sum(n for k, n in c.items() if k.startswith("dynamodb:") and k.split(":")[1] in DYNAMODB_READS)
    writes = sum(n for k, n in c.items() if k.startswith("dynamodb:") and k.split(":")[1] in DYNAMODB_WRITES)
    return reads, writes


def fan_out(world: World, flows: dict[str, Flow]) -> Result:
    figure = "3 fan-out"
    with world.worker("deployer") as deployer:
        deployer.invoke(world.push("web", f"1.{world.next('web')}.0"))  # warm: clients made, config read
        small = deployer.invoke(world.push(FAN_SMALL.repository, "1.1.0"))
        big = deployer.invoke(world.push(FAN_OUT.repository, "1.1.0"))
    for invocation in (small, big):
        _failures(invocation)
    ours = replay(ecs_sequence(big))
    services = [(cluster, service) for cluster, service, _ in FAN_OUT.placement()]
    naive_calls = naive_deploy(world.client("ecs"), services, f"{REGISTRY}/{FAN_OUT.repository}:1.2.0")
    naive = replay(naive_calls)
    ecs_calls = Counter(k.split(":")[1] for k in big.counts().elements() if k.startswith("ecs:"))
    registered = ecs_calls["RegisterTaskDefinition"]
    one = flows["push"].runs[-1]
    dynamo = {n: _dynamodb(inv) for n, inv in ((1, one), (FAN_SMALL.services, small), (FAN_OUT.services, big))}
    reads = {n: r for n, (r, _) in dynamo.items()}
    writes = {n: w for n, (_, w) in dynamo.items()}
    read_units = {
        n: sum(u for k, u in inv.units().items() if k.startswith("dynamodb:") and k.split(":")[1] in DYNAMODB_READS)
        for n, inv in ((1, one), (FAN_SMALL.services, small), (FAN_OUT.services, big))
    }
    # what one more service adds: each service's own exactly-once records (its deploy claim, deployment, ledger row,
    # and its start notification's claim and Slack reference)
    per_service = (writes[FAN_OUT.services] - writes[FAN_SMALL.services]) / (FAN_OUT.services - FAN_SMALL.services)
    where = f"{FAN_OUT.services} services, {FAN_OUT.families} families, {FAN_OUT.clusters} clusters"
    rows = [
        Row(
            figure,
            f"one push to {where}: ECS calls",
            f"{sum(ecs_calls.values())}: " + ", ".join(f"{a} {n}" for a, n in ecs_calls.most_common()),
            f"RegisterTaskDefinition = {FAN_OUT.families} (one per family)",
            registered == FAN_OUT.families,
        ),
        Row(
            figure,
            "projected wall time through ECS's token buckets (published default quotas)",
            _replay_text(ours),
            f"≤ {FAN_OUT_GOAL_S:.0f} s (floor ≈ 10 s: 100 UpdateService at 50 burst + 5/s)",
            ours.seconds <= FAN_OUT_GOAL_S,
        ),
        Row(
            figure,
            "naive deployer (describe, register, update per service), same buckets",
            f"{_replay_text(naive)}; ECS calls {len(naive_calls)}",
            "the alternative",
        ),
        Row(
            figure,
            f"DynamoDB calls per push at 1 / {FAN_SMALL.services} / {FAN_OUT.services} services",
            "reads "
            + " / ".join(str(r) for r in reads.values())
            + "; writes "
            + " / ".join(map(str, writes.values()))
            + f" ({per_service:.1f} more for each service past {FAN_SMALL.services}); read units "
            + " / ".join(map(str, read_units.values()))
            + " (a BatchGetItem bills each key)",
            "reads do not grow per service (batched)",
            reads[FAN_OUT.services] <= 2 * max(1, reads[1]),
        ),
    ]
    data = {
        "services": FAN_OUT.services,
        "families": FAN_OUT.families,
        "clusters": FAN_OUT.clusters,
        "ecs_calls": dict(ecs_calls),
        "aws_calls": dict(sorted(big.counts().items())),
        "buckets": {"source": ECS_BUCKETS_SOURCE, "as_of": ECS_BUCKETS_AS_OF},
        "projected_s": ours.seconds,
        "waited_s": ours.waited,
        "throttled_calls": ours.throttled,
        "naive": {"calls": len(naive_calls), "projected_s": naive.seconds, "throttled_calls": naive.throttled},
        "dynamodb_per_push": {
            str(n): {"reads": reads[n], "writes": writes[n], "read_units": read_units[n]} for n in reads
        },
        "dynamodb_writes_per_service": per_service,
        "handler_ms": big.own_ms,
    }
    return Result(rows, data)


def _replay_text(r: Replay) -> str:
    return f"{r.seconds:.1f} s (waiting for tokens {r.waited:.1f} s; {r.throttled} calls found their bucket empty)"


# -------------------------------------------------------------------------------------------- 4 crash storm
@dataclass
class Storm:
    stops: int
    seconds: float
    invocations: int = 0
    lambda_ms: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    units: Counter[str] = field(default_factory=Counter)  # what the calls billed (a DynamoDB batch: its items)
    slack: int = 0

    def as_dict(self) -> dict[str, Any]:
        reads = sum(n for k, n in self.units.items() if k.split(":")[-1] in DYNAMODB_READS)
        writes = sum(n for k, n in self.units.items() if k.split(":")[-1] in DYNAMODB_WRITES)
        return {
            "stops": self.stops,
            "seconds": self.seconds,
            "invocations": self.invocations,
            "lambda_ms": self.lambda_ms,
            "slack_messages": self.slack,
            "sns_publishes": self.calls["sns:Publish"],
            "dynamodb_reads": reads,
            "dynamodb_writes": writes,
            "aws_calls": dict(sorted(self.calls.items())),
            "billed_units": dict(sorted(self.units.items())),
        }


def batches(arrivals: list[float], window: float = 5.0, size: int = 10) -> list[list[int]]:
    """Which stops Lambda's SQS poller hands over together: a batch closes `window` seconds after its first record
    arrived, or when it holds `size` records (the watcher's MaximumBatchingWindowInSeconds and BatchSize)."""
    out: list[list[int]] = []
    for i, at in enumerate(arrivals):
        if out and len(out[-1]) < size and at < arrivals[out[-1][0]] + window:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def crash_storm(world: World, stops: int, seconds: float) -> Result:
    figure = "4 crash storm"
    storm = Storm(stops, seconds)
    start = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    arrivals = [i * seconds / stops for i in range(stops)]
    world.release_delayed("WatchQueue")  # earlier flows' window closes are no part of the storm
    with world.worker("watcher") as watcher:
        watcher.request(op="clock", start=start.isoformat())
        warm_up = json.loads((ROOT / "events" / "ecs-task-stopped-scale-in.json").read_text())
        watcher.invoke(wrap(world, warm_up))  # a normal stop, no alert: the container is warm when the storm starts
        slack_before = len(world.slack.messages)

        def deliver(bodies: list[dict[str, Any]]) -> None:
            invocation = watcher.invoke(world.sqs("WatchQueue", *bodies))
            _failures(invocation)
            storm.invocations += 1
            storm.lambda_ms += invocation.ms
            storm.calls.update(invocation.counts())
            storm.units.update(invocation.units())

        clock = 0.0
        for batch in batches(arrivals):
            close = arrivals[batch[0]] + 5.0 if len(batch) < 10 else arrivals[batch[-1]]
            events = [world.crash("api-storm", i, at=start + timedelta(seconds=arrivals[i])) for i in batch]
            watcher.request(op="advance", seconds=close - clock)
            clock = close
            deliver(events)
        # the crash loop's window closes: its delayed message comes due and the summary goes out
        watcher.request(op="advance", seconds=10 * 60 + 5 - clock)
        for body in world.release_delayed("WatchQueue"):
            deliver([body])
    storm.slack = len(world.slack.messages) - slack_before
    d = storm.as_dict()
    per = 1 / stops
    notes = max(storm.slack, storm.calls["sns:Publish"])
    rows = [
        Row(
            figure,
            f"{stops} stops of one service in {seconds / 60:.0f} min: notifications",
            f"Slack {storm.slack}, SNS {storm.calls['sns:Publish']}",
            f"≤ {STORM_NOTIFICATIONS_GOAL} per channel",
            notes <= STORM_NOTIFICATIONS_GOAL,
        ),
        Row(
            figure,
            "Lambda time and invocations (batching window 5 s, batch size 10)",
            f"{storm.lambda_ms / 1000:.1f} s in {storm.invocations} invocations; {ms(storm.lambda_ms * per)} per stop",
        ),
        Row(
            figure,
            "DynamoDB for the storm (request units: a batch bills each item)",
            f"writes {d['dynamodb_writes']} ({d['dynamodb_writes'] * per:.2f} per stop), "
            f"reads {d['dynamodb_reads']} ({d['dynamodb_reads'] * per:.2f} per stop)",
        ),
    ]
    return Result(rows, d)
