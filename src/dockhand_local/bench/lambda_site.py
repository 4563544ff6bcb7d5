"""The files a function sees on Lambda, laid out here: `opt/python` (the layer: its pinned requirements for this
machine's platform, and a copy of the `dockhand` package) and `task/<function>` (a copy of the function's folder).

Interpreters the bench starts use these alone (`python -S`: no site-packages), so an import that only the
development environment could satisfy fails here as it would on Lambda. `sam build` ships no bytecode, and
Lambda's file system is read-only, so every cold start compiles what it imports: the copies carry no `.pyc`
either, unless the built layer has them.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from dockhand_local.stack import ROOT

LAYER_SOURCE = ROOT / "layers" / "dockhand"
REQUIREMENTS = LAYER_SOURCE / "requirements.txt"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


@dataclass(frozen=True)
class LambdaSite:
    root: Path

    @property
    def opt_python(self) -> Path:
        return self.root / "opt" / "python"

    def task(self, function_dir: Path) -> Path:
        return self.root / "task" / function_dir.name


def prepare(root: Path, function_dirs: list[Path], compile_bytecode: bool = False) -> LambdaSite:
    """Install the layer's requirements (again only when requirements.txt changed) and copy our code in afresh."""
    site = LambdaSite(root)
    stamp = site.opt_python / ".requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes() + bytes(compile_bytecode)).hexdigest()
    if not stamp.exists() or stamp.read_text() != wanted:
        shutil.rmtree(site.opt_python, ignore_errors=True)
        site.opt_python.mkdir(parents=True)
        uv = Path(sys.executable).with_name("uv")
        command = [str(uv), "pip", "install", "--quiet", "--python", sys.executable, "--target", str(site.opt_python)]
        subprocess.run([*command, "-r", str(REQUIREMENTS)], check=True, capture_output=True, timeout=600)
        stamp.write_text(wanted)
    shutil.rmtree(site.opt_python / "dockhand", ignore_errors=True)
    shutil.copytree(LAYER_SOURCE / "dockhand", site.opt_python / "dockhand", ignore=_IGNORE)
    for function_dir in function_dirs:
        shutil.rmtree(site.task(function_dir), ignore_errors=True)
        shutil.copytree(function_dir, site.task(function_dir), ignore=_IGNORE)
    if compile_bytecode:
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(site.root)], check=True, capture_output=True, timeout=600
        )
    return site


def built_layer_has_bytecode(build_dir: Path) -> bool:
    """Whether `sam build` put compiled modules into the layer (then Lambda need not compile them)."""
    layer = build_dir / "DockhandLayer" / "python"
    return layer.is_dir() and any(layer.rglob("*.pyc"))
