"""`make bench` (`python -m dockhand_local.bench`): one table on stdout, the same figures in bench.json.

Everything the measured code and the emulator print while the bench runs goes to a log file
(.aws-sam/bench/bench.log), so the table is the only thing on the terminal.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dockhand_local.bench.report import Result, Row, render, with_table
from dockhand_local.stack import ROOT

FIGURES = ("cold", "warm", "fanout", "storm", "local", "artifacts", "cost")
HOW = (
    "Each function runs in a fresh `python -S` with only what its Lambda has (the layer's pinned requirements for "
    "this machine, trimmed and compiled as the layer build makes them for Lambda), against moto in server mode; AWS "
    "time is measured with botocore event hooks and left out of handler time. Cold starts are CPU time, each ratio "
    "the median of rounds alternated in this run; absolute times are this machine's."
)


@contextmanager
def quiet(log: Path) -> Iterator[Any]:
    """Send fd 1 and 2 (and so everything anything prints) to `log`; yield a stream on the real stdout."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(target, 1)
    os.dup2(target, 2)
    try:
        yield os.fdopen(os.dup(saved_out), "w")
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for fd in (saved_out, saved_err, target):
            os.close(fd)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from dockhand_local.bench import artifacts
    from dockhand_local.bench.lambda_site import built_layer_has_bytecode

    wanted = set(args.only or FIGURES) - set(args.skip or ())
    work = Path(args.workdir)
    started = time.perf_counter()
    # built first: the functions then run with bytecode only if the built layer ships it, as on Lambda
    built = artifacts.sam_build(work / "build", work / "build-cache") if "artifacts" in wanted else None
    compiled = built is not None and built_layer_has_bytecode(built)
    results, loaded = _in_world(work, wanted, args.quick, compiled)
    results.update(_after_world(work, wanted, args.quick, built, results, loaded))
    order = [name for name in FIGURES if name in results and name in wanted]
    return {
        "meta": {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "quick": args.quick,
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "seconds": round(time.perf_counter() - started, 1),
            "how": HOW,
            "bytecode_shipped": compiled,
        },
        "figures": {name: results[name].data for name in order},
        "rows": [row.as_dict() for name in order for row in results[name].rows],
    }


def _in_world(work: Path, wanted: set[str], quick: bool, compiled: bool) -> tuple[dict[str, Result], set[str]]:
    """The figures measured on the bench's own world (cold starts, warm flows, fan-out, the storm), and the layer's
    modules the functions loaded there."""
    from dockhand_local.bench import coldstart, flows
    from dockhand_local.bench.world import World

    results: dict[str, Result] = {}
    world = World(work / "world", fleets=flows.FLEETS, compile_bytecode=compiled).start()
    try:
        if "cold" in wanted:
            measured = coldstart.measure(world, rounds=1 if quick else 5)
            top = coldstart.importtime(world)
            results["cold"] = Result(measured.rows + top.rows, {**measured.data, "top_import_costs": top.data})
        warm, flow_objects = flows.warm(world, iterations=1 if quick else 5)
        results["_warm"] = warm
        if "warm" in wanted or "cost" in wanted:
            results["warm"] = warm
        if "fanout" in wanted:
            results["fanout"] = flows.fan_out(world, flow_objects)
        if "storm" in wanted or "cost" in wanted:
            results["storm"] = flows.crash_storm(world, stops=50 if quick else 500, seconds=60 if quick else 600)
    finally:
        world.stop()
    return results, world.loaded_modules()


def _after_world(
    work: Path, wanted: set[str], quick: bool, built: Path | None, results: dict[str, Result], loaded: set[str]
) -> dict[str, Result]:
    """The figures that need the world gone or its results: the local runtime's push, artifacts, cost."""
    from dockhand_local.bench import artifacts, coldstart, costs, local
    from dockhand_local.bench.world import FUNCTIONS

    out: dict[str, Result] = {}
    if "local" in wanted:
        out["local"] = local.measure(work / "local", pushes=2 if quick else 6)
    if built is not None:
        called = {key.split(":")[0] for flow in results["_warm"].data.values() for key in flow["aws_calls"]}
        called |= {key.split(":")[0] for key in results.get("storm", Result([])).data.get("aws_calls", {})}
        called |= coldstart.SERVICES_CALLED
        out["artifacts"] = artifacts.measure(built, called, loaded)
    if "cost" in wanted:
        rows, data = costs.cost_figure(results["warm"].data, results["storm"].data, functions=len(FUNCTIONS))
        out["cost"] = Result([Row("7 cost", *row) for row in rows], data)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dockhand_local.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and a smaller storm (for tests)")
    parser.add_argument("--only", nargs="*", choices=FIGURES, help="measure only these figures")
    parser.add_argument("--skip", nargs="*", choices=FIGURES, help="leave these figures out")
    parser.add_argument("--json", default=str(ROOT / "bench.json"), help="where the figures go (default bench.json)")
    parser.add_argument("--workdir", default=str(ROOT / ".aws-sam" / "bench"), help="scratch folder")
    parser.add_argument("--readme", action="store_true", help="also put the table into README.md")
    args = parser.parse_args(argv)
    with quiet(Path(args.workdir) / "bench.log") as out:
        try:
            report = run(args)
        except Exception as exc:
            import traceback

            traceback.print_exc()  # into the log
            print(f"bench failed: {type(exc).__name__}: {exc} (see {Path(args.workdir) / 'bench.log'})", file=out)
            out.flush()
            return 1
        Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
        table = render(Row(**row) for row in report["rows"])
        out.write(table)
        out.flush()
    if args.readme:
        meta = report["meta"]
        note = f"Latest run: {meta['when'][:10]}, {meta['machine']}, Python {meta['python']}, {meta['seconds']:.0f} s."
        readme = ROOT / "README.md"
        readme.write_text(with_table(readme.read_text(encoding="utf-8"), table, note), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
