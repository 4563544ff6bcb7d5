"""Figure 6: each function and layer as `sam build` makes them (bytes, files, zipped bytes) beside Lambda's limits,
and what is shipped that no import reaches (modules that neither a handler's import graph nor the bench's own runs
of the functions reach, and botocore service models beyond the services Dockhand's code calls)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from collections import defaultdict
from collections.abc import Iterable
from modulefinder import ModuleFinder
from pathlib import Path
from typing import Any

from dockhand_local.bench.report import Result, Row
from dockhand_local.stack import ROOT

FIGURE = "6 artifacts"
FUNCTIONS = ("DeployerFunction", "WatcherFunction", "BatchFunction", "ScheduleSyncFunction", "ApproverFunction")
LAYERS = ("DockhandLayer",)
# Modules a handler's import reaches only by name: with tracing on, Powertools' Tracer(patch_modules=["botocore"])
# (dockhand/observability.py) has aws_xray_sdk import its botocore patch with importlib.
BY_NAME = ("aws_xray_sdk.ext.botocore.patch",)
# Lambda quotas: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html (read 2026-12-05)
UNZIPPED_LIMIT = 250 * 1024 * 1024  # function and all its layers, unzipped
ZIPPED_LIMIT = 50 * 1024 * 1024  # a .zip uploaded directly
WELL_INSIDE = 0.5  # "well inside": at most half of a limit


def sam_build(build_dir: Path, cache_dir: Path) -> Path:
    """`sam build` for arm64 without a container, as `make build` runs it; returns the build folder."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    sam = shutil.which("sam", path=env["PATH"])
    if sam is None:
        raise RuntimeError("sam is not installed (it is a dev dependency: make venv)")
    command = [sam, "build", "--build-dir", str(build_dir), "--cache-dir", str(cache_dir), "--cached", "--parallel"]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError("sam build failed: " + (proc.stdout + proc.stderr)[-3000:])
    return build_dir


def resolve_imports(handler_dir: Path, layer: Path) -> ModuleFinder:
    """Follow app.py's imports with Lambda's search path: the function folder, /opt/python, the standard library."""
    stdlib = [p for p in sys.path if "site-packages" not in p and p and Path(p).exists() and ROOT.as_posix() not in p]
    finder = ModuleFinder(path=[str(handler_dir), str(layer), *stdlib])
    finder.run_script(str(handler_dir / "app.py"))
    return finder


def size(folder: Path) -> dict[str, int]:
    """Files, bytes, and bytes as a deflated .zip (what is uploaded)."""
    files = [p for p in sorted(folder.rglob("*")) if p.is_file()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(folder))
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files), "zipped": buffer.tell()}


def unreached(shipped: Iterable[Path], reached: set[str]) -> list[Path]:
    """Python files shipped whose module no import reaches."""
    return [p for p in shipped if p.suffix == ".py" and str(p.resolve()) not in reached]


def botocore_models(layer: Path, services: frozenset[str] | set[str]) -> tuple[list[str], int]:
    """botocore's service models for services outside `services`: (names, bytes)."""
    data = layer / "botocore" / "data"
    if not data.is_dir():
        return [], 0
    unused = [d for d in sorted(data.iterdir()) if d.is_dir() and d.name not in services]
    return [d.name for d in unused], sum(f.stat().st_size for d in unused for f in d.rglob("*") if f.is_file())


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def measure(built: Path, services_called: set[str], loaded: set[str] | None = None) -> Result:
    """Figure 6 over a `sam build` output folder; `loaded`: the layer's modules (paths under python/) the bench's
    runs of the functions loaded, which reach what the import graph cannot see (boto3's handlers named by string)."""
    from dockhand.aws.clients import SERVICES

    layer = built / "DockhandLayer" / "python"
    sizes = {name: size(built / name) for name in (*FUNCTIONS, *LAYERS)}
    reached = {str((layer / path).resolve()) for path in loaded or ()}
    for function in FUNCTIONS:
        finder = resolve_imports(built / function, layer)
        for name in BY_NAME:
            finder.import_hook(name)
        reached |= {str(Path(m.__file__).resolve()) for m in finder.modules.values() if m.__file__}
    shipped = [p for name in (*FUNCTIONS, *LAYERS) for p in (built / name).rglob("*.py")]
    lost = unreached(shipped, reached)
    lost_bytes = sum(p.stat().st_size for p in lost)
    by_package: dict[str, int] = defaultdict(int)
    for path in lost:
        relative = path.relative_to(layer) if path.is_relative_to(layer) else path.relative_to(built)
        by_package["/".join(relative.parts[:2]) if len(relative.parts) > 2 else relative.parts[0]] += (
            path.stat().st_size
        )
    models, model_bytes = botocore_models(layer, SERVICES)
    not_called = sorted(SERVICES - services_called)
    bytecode = sum(1 for _ in layer.rglob("*.pyc"))
    rows = []
    layer_size = sizes["DockhandLayer"]
    for function in FUNCTIONS:
        s = sizes[function]
        total = s["bytes"] + layer_size["bytes"]
        files = f"{s['files']} file{'s' if s['files'] != 1 else ''}"
        rows.append(
            Row(
                FIGURE,
                f"{function} (+ DockhandLayer): unzipped",
                f"{files}, {s['bytes']:,} bytes (+ layer {_mb(layer_size['bytes'])} = {_mb(total)})",
                f"≤ {WELL_INSIDE:.0%} of 250 MB",
                total <= WELL_INSIDE * UNZIPPED_LIMIT,
            )
        )
    rows.append(
        Row(
            FIGURE,
            "DockhandLayer: zipped (direct upload)",
            f"{layer_size['files']} files, {_mb(layer_size['zipped'])} zipped, {_mb(layer_size['bytes'])} unzipped",
            f"≤ {WELL_INSIDE:.0%} of 50 MB",
            layer_size["zipped"] <= WELL_INSIDE * ZIPPED_LIMIT,
        )
    )
    top = sorted(by_package.items(), key=lambda kv: -kv[1])[:6]
    rows.append(
        Row(
            FIGURE,
            "Python files shipped that no handler's import reaches (modulefinder, what the tracer imports by name, "
            "and what the bench's runs loaded)",
            f"{len(lost)} of {len(shipped)} files, {_mb(lost_bytes)}"
            + ("; largest: " + ", ".join(f"{name} {_mb(n)}" for name, n in top) if top else ""),
            "none",
            not lost,
        )
    )
    called_here = ", ".join(sorted(services_called & SERVICES))
    unused = f"; not called in this run: {', '.join(not_called)} (reached by configuration)" if not_called else ""
    rows.append(
        Row(
            FIGURE,
            "botocore service models shipped beyond the services Dockhand calls "
            f"(called in this run: {called_here}{unused})",
            f"{len(models)} services, {_mb(model_bytes)}" + (f": {', '.join(models[:8])}" if models else ""),
            "none",
            not models,
        )
    )
    effect = "unchecked-hash: no cold start compiles them" if bytecode else "each cold start compiles"
    rows.append(Row(FIGURE, "compiled bytecode (.pyc) in the layer", f"{bytecode} files ({effect})"))
    data: dict[str, Any] = {
        "sizes": sizes,
        "limits": {"unzipped_bytes": UNZIPPED_LIMIT, "zipped_bytes": ZIPPED_LIMIT},
        "unreached_files": len(lost),
        "shipped_py_files": len(shipped),
        "unreached_bytes": lost_bytes,
        "unreached_by_package": dict(top),
        "unreached_sample": sorted(str(p.relative_to(built)) for p in lost)[:50],
        "botocore_models_unused": len(models),
        "botocore_models_unused_bytes": model_bytes,
        "services_called": sorted(services_called),
        "services_declared": sorted(SERVICES),
        "layer_pyc_files": bytecode,
    }
    return Result(rows, data)
