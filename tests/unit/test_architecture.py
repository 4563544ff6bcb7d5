"""The shape of the layer, held by tests: floors that import only downwards, wings that never import each other,
small modules, simple functions.

handlers (functions/*/app.py) and the composition root (dockhand.deps)
  → wings (dockhand.deploy, dockhand.watch, dockhand.batch; a wing never imports another wing)
  → notify (dockhand.notify)
  → the floor (config, events, state, aws, and the shared pieces: arns, links, backoff, images, revisions …)
Local-only code (moto, the local runtime, the CLI) never enters the layer.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from radon.complexity import cc_rank, cc_visit

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "dockhand"
HANDLERS = ROOT / "functions"
MAX_LINES = 300
WORST_GRADE = "C"  # radon's grades: A 1-5, B 6-10, C 11-20, D 21-30 …
WINGS = ("dockhand.deploy", "dockhand.watch", "dockhand.batch", "dockhand.promote")
LOCAL_ONLY = ("dockhand_local", "dockhand_cli", "moto", "time_machine", "tests")


def module_name(path: Path) -> str:
    base = LAYER if path.is_relative_to(LAYER) else ROOT
    parts = list(path.relative_to(base).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, Path]:
    """Every module of the layer and every handler, by dotted name."""
    paths = [*LAYER.joinpath("dockhand").rglob("*.py"), *HANDLERS.glob("*/app.py")]
    return {module_name(p): p for p in sorted(paths)}


MODULES = sources()


def imports_of(path: Path, known: dict[str, Path] = MODULES) -> set[str]:
    """What a module imports, anywhere in it (lazy imports inside functions too), as dotted module names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in known else node.module)
    return found


def floor(module: str) -> int:
    if module.startswith("functions.") or module == "dockhand.deps":
        return 4
    if wing(module) is not None:
        return 3
    if module == "dockhand.notify" or module.startswith("dockhand.notify."):
        return 2
    return 1


def wing(module: str) -> str | None:
    return next((w for w in WINGS if module == w or module.startswith(f"{w}.")), None)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import that runs up a floor, crosses from one wing to another, or brings local-only code in."""
    problems = []
    for importer, imported in sorted(graph.items()):
        for target in sorted(imported):
            if target.split(".")[0] in LOCAL_ONLY:
                problems.append(f"{importer} imports local-only {target}")
            if not (target == "dockhand" or target.startswith("dockhand.")):
                continue
            if floor(target) > floor(importer):
                problems.append(f"{importer} (floor {floor(importer)}) imports {target} (floor {floor(target)})")
            elif floor(importer) == 3 and wing(target) not in (None, wing(importer)):
                problems.append(f"wing {wing(importer)} imports wing {wing(target)} ({importer} → {target})")
    return problems


def test_the_rules_catch_what_they_forbid() -> None:
    # Given a graph with one import of each forbidden kind (and one allowed)
    graph = {
        "dockhand.notify.slack": {"dockhand.deps"},
        "dockhand.watch.deployments": {"dockhand.deploy.admission", "dockhand.revisions"},
        "dockhand.state.runs": {"dockhand.batch.spec"},
        "dockhand.aws.ecs": {"moto"},
        "functions.watcher.app": {"dockhand.watch.dispatch", "dockhand.deps"},
    }
    # Then each forbidden one is named, and only those
    assert upward_imports(graph) == [
        "dockhand.aws.ecs imports local-only moto",
        "dockhand.notify.slack (floor 2) imports dockhand.deps (floor 4)",
        "dockhand.state.runs (floor 1) imports dockhand.batch.spec (floor 3)",
        "wing dockhand.watch imports wing dockhand.deploy (dockhand.watch.deployments → dockhand.deploy.admission)",
    ]


def test_the_layer_and_the_handlers_are_all_read() -> None:
    assert {"dockhand.deps", "dockhand.watch.dispatch", "dockhand.config", "functions.batch.app"} <= set(MODULES)
    assert "dockhand.images" in imports_of(MODULES["dockhand.deploy.taskdef"])


def test_no_import_runs_upward_and_no_wing_imports_another() -> None:
    graph = {name: imports_of(path) for name, path in MODULES.items()}
    assert upward_imports(graph) == []


def test_no_module_of_the_layer_is_above_300_lines() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in MODULES.items()}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def _functions(blocks: list[Any]) -> Iterator[Any]:
    """Every function, method and closure radon found."""
    for block in blocks:
        if type(block).__name__ == "Function":
            yield block
            yield from _functions(block.closures)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_function_is_above_radon_grade_c(name: str) -> None:
    blocks = cc_visit(MODULES[name].read_text(encoding="utf-8"))
    worse = {
        f"{b.fullname}:{b.lineno}": b.complexity for b in _functions(blocks) if cc_rank(b.complexity) > WORST_GRADE
    }
    assert worse == {}
