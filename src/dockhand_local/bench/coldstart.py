"""Figure 1, cold start: every function's import, and its import plus the first record of a typical event, each in a
fresh interpreter, as ratios to `import boto3; boto3.client("ecs")` measured in the same rounds (alternated); the
floor under each (its libraries and AWS clients alone); peak memory; and where the time goes (`python -X importtime`).

Times are the process's CPU time (`time.process_time`): a cold start is one thread computing, and CPU time is what
the machine's other work inflates least (wall time on a shared machine varies by tens of percent from one run to
the next). Each ratio is the median of the rounds' own ratios: a function and the baseline measured moments apart
share the machine's state."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dockhand_local.bench.lambda_site import stock_boto3
from dockhand_local.bench.report import Result, Row, ms, ratio
from dockhand_local.bench.world import FUNCTIONS, World

GOAL = 1.2  # the first record of every function within 1.2x the baseline
FIGURE = "1 cold start"
_MEASURED = (
    "ms = (time.perf_counter() - t) * 1000; cpu_ms = (time.process_time() - c) * 1000; import json; "
    "hwm = [int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM:')][0]; "
    "print(json.dumps({'ms': ms, 'cpu_ms': cpu_ms, 'rss_mb': hwm / 1024}))"
)
_BASELINE = (
    "import time; t, c = time.perf_counter(), time.process_time(); import boto3; boto3.client('ecs'); " + _MEASURED
)

# The floor under a function's first record: the same library modules (those its run loaded from the layer, not
# Dockhand's), imported in the order it imported them, and a client of each AWS service it called. No Dockhand code
# runs: this is what any handler built on these libraries and calling these services pays before doing anything.
_FLOOR = (
    "import sys, time; t, c = time.perf_counter(), time.process_time(); import importlib; "
    "[importlib.import_module(m) for m in sys.argv[1].split(',') if m]; "
    "import boto3; s = boto3.session.Session(); [s.client(c) for c in sys.argv[2].split(',') if c]; " + _MEASURED
)


def first_events(world: World) -> dict[str, Callable[[], dict[str, Any]]]:
    """The typical first record of each function (a new one each time: a newer tag, a new service, a new group)."""
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)
    return {
        "deployer": lambda: world.push("web", f"1.{world.next('web')}.0"),
        "watcher": lambda: world.sqs("WatchQueue", world.crash(f"api-cold-{world.next('cold-group')}", 0)),
        "batch": lambda: world.job_launch(start + timedelta(days=world.next("job-day"))),
        "schedule_sync": lambda: world.schedule_sync("Create"),
    }


@dataclass
class Cold:
    import_ms: float  # CPU time of the handler's import
    ready_ms: float  # CPU time of the import + the first record, less the CPU time inside AWS calls
    rss_mb: float
    modules: list[str]  # the library modules it loaded from the layer, in import order
    clients: list[str]  # the AWS services it made a client of, in order
    called: list[str]  # the AWS services it called, in order
    wall_ms: float = 0.0  # wall time of the import + the first record, less the time inside AWS calls


SERVICES_CALLED: set[str] = set()  # every AWS service a first record called (what the artifacts must carry)


def _one(world: World, function: str, event: dict[str, Any], importtime: bool = False) -> tuple[Cold, str]:
    worker = world.worker(function, importtime)
    try:
        first = worker.invoke(event)
        loaded = worker.request(op="loaded")
    finally:
        stderr = worker.close()
    SERVICES_CALLED.update(service for service, _, _, _ in first.calls)
    called = list(dict.fromkeys(service for service, _, _, _ in first.calls))
    cold = Cold(
        worker.import_cpu_ms,
        worker.import_cpu_ms + first.own_cpu_ms,
        first.rss_mb,
        loaded["modules"],
        loaded["clients"],
        called,
        wall_ms=worker.import_ms + first.own_ms,
    )
    return cold, stderr


def _baseline(world: World) -> dict[str, float]:
    """The issue's baseline: boto3 and botocore as pip installs them (stock data), nothing else on the path."""
    stock = stock_boto3(world.workdir / "stock-boto3", world.compile_bytecode)
    return _python(world, "deployer", _BASELINE, pythonpath=str(stock))


def _baseline_on_layer(world: World) -> dict[str, float]:
    """The same code on the layer's boto3, whose botocore data the layer build trimmed and slimmed."""
    return _python(world, "deployer", _BASELINE)


def _floor(world: World, function: str, cold: Cold) -> dict[str, float]:
    return _python(world, function, _FLOOR, ",".join(cold.modules), ",".join(cold.called))


def _python(world: World, function: str, code: str, *args: str, pythonpath: str = "") -> dict[str, float]:
    """`code` in a fresh `python -S` with the function's environment (another path than the layer's if given);
    what it printed last, as JSON."""
    env = world.env(function)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    out = subprocess.run(
        [sys.executable, "-S", "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@dataclass
class Round:
    """One round: the baseline, then each function and its floor, moments apart."""

    baseline: dict[str, float]
    cold: dict[str, Cold]
    floor: dict[str, dict[str, float]]
    on_layer: dict[str, float]  # the baseline on the layer's trimmed botocore data

    def ratio(self, function: str, what: str, base: str = "stock") -> float:
        """`what` (import, ready, floor) of `function`, or the baseline on the layer (`layer`), to the baseline
        (`stock`) or to the baseline on the layer (`layer`)."""
        if what == "layer":
            value = self.on_layer["cpu_ms"]
        elif what == "floor":
            value = self.floor[function]["cpu_ms"]
        else:
            value = getattr(self.cold[function], f"{what}_ms")
        return value / (self.baseline if base == "stock" else self.on_layer)["cpu_ms"]


def paired(rounds: list[Round], function: str, what: str, base: str = "stock") -> float:
    """The median of the rounds' own ratios of `what` (import, ready, floor) to the baseline (or to `base`)."""
    return statistics.median(r.ratio(function, what, base) for r in rounds)


def measure(world: World, rounds: int) -> Result:
    events = first_events(world)
    if rounds > 1:  # warm the file cache for everyone, so the first round is like the others
        _baseline(world)
        _baseline_on_layer(world)
        for function in FUNCTIONS:
            _one(world, function, events[function]())
    played: list[Round] = []
    for _ in range(rounds):
        base, on_layer = _baseline(world), _baseline_on_layer(world)
        cold, floor = {}, {}
        for function in FUNCTIONS:
            cold[function] = _one(world, function, events[function]())[0]
            floor[function] = _floor(world, function, cold[function])
        played.append(Round(base, cold, floor, on_layer))
    baseline = statistics.median(r.baseline["cpu_ms"] for r in played)
    base_rss = statistics.median(r.baseline["rss_mb"] for r in played)
    layer_ms = statistics.median(r.on_layer["cpu_ms"] for r in played)
    layer_ratio = paired(played, "", "layer")
    rows = [
        Row(
            FIGURE,
            f'baseline: import boto3; boto3.client("ecs"), boto3 as pip installs it (CPU time, median of {rounds})',
            ms(baseline),
        ),
        Row(
            FIGURE,
            "the same on the layer's boto3 (botocore data trimmed to the services called, slimmed; "
            "the second ratio of each function is to this)",
            f"{ms(layer_ms)} = {ratio(layer_ratio)}",
        ),
    ]
    data: dict[str, Any] = {
        "rounds": rounds,
        "clock": "process CPU time",
        "baseline_ms": baseline,
        "baseline_wall_ms": statistics.median(r.baseline["ms"] for r in played),
        "baseline_rss_mb": base_rss,
        "baseline_on_layer_ms": layer_ms,
        "baseline_on_layer_ratio": layer_ratio,
        "functions": {},
        "services_called": sorted(SERVICES_CALLED),
    }
    for function in FUNCTIONS:
        runs = [r.cold[function] for r in played]
        imp = statistics.median(c.import_ms for c in runs)
        ready = statistics.median(c.ready_ms for c in runs)
        least = statistics.median(r.floor[function]["cpu_ms"] for r in played)
        rss = statistics.median(c.rss_mb for c in runs)
        ready_ratio = paired(played, function, "ready")
        ready_to_layer = paired(played, function, "ready", base="layer")
        last = runs[-1]
        data["functions"][function] = {
            "import_ms": imp,
            "ready_ms": ready,
            "ready_wall_ms": statistics.median(c.wall_ms for c in runs),
            "import_ratio": paired(played, function, "import"),
            "ready_ratio": ready_ratio,
            "ready_ratios": [r.ratio(function, "ready") for r in played],
            "ready_ratio_to_layer_baseline": ready_to_layer,
            "rss_mb": rss,
            "floor_ms": least,
            "floor_ratio": paired(played, function, "floor"),
            "floor_ratios": [r.ratio(function, "floor") for r in played],
            "floor_modules": len(last.modules),
            "floor_packages": sorted({m.split(".")[0] for m in last.modules}),
            "clients_made": last.clients,
            "services_called": last.called,
        }
        figures = data["functions"][function]
        rows.append(Row(FIGURE, f"{function}: import", f"{ms(imp)} = {ratio(figures['import_ratio'])}"))
        rows.append(
            Row(
                FIGURE,
                f"{function}: import + clients + first record (AWS calls excluded)",
                f"{ms(ready)} = {ratio(ready_ratio)} ({ratio(ready_to_layer)} the baseline on the layer)",
                f"≤ {GOAL}x",
                ready_ratio <= GOAL,
            )
        )
        rows.append(
            Row(
                FIGURE,
                f"{function}: floor: the same library modules ({len(last.modules)}) and AWS clients "
                f"({', '.join(last.called)}), no Dockhand code",
                f"{ms(least)} = {ratio(figures['floor_ratio'])}",
            )
        )
        rows.append(
            Row(
                FIGURE,
                f"{function}: peak memory after the first record",
                f"{rss:.0f} MB (baseline {base_rss:.0f} MB)",
                "< 256 MB (MemorySize)",
                rss < 256,
            )
        )
    return Result(rows, data)


# --------------------------------------------------------------------------------------------- -X importtime

_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")
_IMPORTERS = "--- bench: importers "


@dataclass(frozen=True)
class Imported:
    name: str
    self_us: int
    cumulative_us: int
    level: int
    phase: str  # "import" (the handler's module) or "first record" (imports done while handling it)


def parse_importtime(stderr: str) -> list[Imported]:
    """Lines of `python -X importtime` (its stderr), in the order Python printed them (a module after its imports)."""
    out: list[Imported] = []
    phase = "import"
    for line in stderr.splitlines():
        if line.startswith("--- bench: handler imported"):
            phase = "first record"
            continue
        match = _LINE.match(line)
        if match:
            self_us, cumulative, indent, name = match.groups()
            out.append(Imported(name, int(self_us), int(cumulative), len(indent) // 2, phase))
    return out


def importers(stderr: str) -> dict[str, str]:
    """Which line of ours first imported each top-level package (the worker reports it last on stderr)."""
    for line in reversed(stderr.splitlines()):
        if line.startswith(_IMPORTERS):
            return dict(json.loads(line[len(_IMPORTERS) :]))
    return {}


def top_costs(lines: list[Imported], via: dict[str, str], limit: int = 6) -> list[dict[str, Any]]:
    """The packages whose modules took the most import time (self time, summed), and the line of ours that first
    imported each (what to move off the path, or make lazy)."""
    by_package: dict[str, int] = defaultdict(int)
    phase: dict[str, str] = {}
    for item in lines:
        top = item.name.split(".")[0]
        by_package[top] += item.self_us
        phase.setdefault(top, item.phase)
    ranked = sorted(by_package.items(), key=lambda kv: -kv[1])[:limit]
    return [
        {"package": package, "ms": us / 1000, "via": via.get(package, "-"), "phase": phase[package]}
        for package, us in ranked
    ]


def importtime(world: World) -> Result:
    events = first_events(world)
    rows, data = [], {}
    for function in FUNCTIONS:
        _, stderr = _one(world, function, events[function](), importtime=True)
        costs = top_costs(parse_importtime(stderr), importers(stderr))
        data[function] = costs
        text = ", ".join(f"{c['package']} {c['ms']:.0f} ms ({c['phase']}, from {c['via']})" for c in costs)
        rows.append(Row(FIGURE, f"{function}: top import costs (-X importtime, self time by package)", text))
    return Result(rows, data)
