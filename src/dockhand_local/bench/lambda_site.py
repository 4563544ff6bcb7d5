"""The files a function sees on Lambda, laid out here: `opt/python` (the layer: its pinned requirements for this
machine's platform, trimmed as the layer build trims them, and a copy of the `dockhand` package) and
`task/<function>` (a copy of the function's folder).

Interpreters the bench starts use these alone (`python -S`: no site-packages), so an import that only the
development environment could satisfy fails here as it would on Lambda. Lambda's file system is read-only, so a
cold start compiles every module the layer ships without bytecode: the layer here is compiled (as the layer build
compiles it, layers/dockhand/build_layer.py) only when the built layer has bytecode; function folders never are.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

from dockhand_local.stack import ROOT

LAYER_SOURCE = ROOT / "layers" / "dockhand"
REQUIREMENTS = LAYER_SOURCE / "requirements.txt"
BUILD_LAYER = LAYER_SOURCE / "build_layer.py"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


@cache
def build_layer() -> ModuleType:
    """The layer's own build script (standard library only), for its trim and its compile."""
    spec = importlib.util.spec_from_file_location("dockhand_build_layer", BUILD_LAYER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class LambdaSite:
    root: Path

    @property
    def opt_python(self) -> Path:
        return self.root / "opt" / "python"

    def task(self, function_dir: Path) -> Path:
        return self.root / "task" / function_dir.name


def prepare(root: Path, function_dirs: list[Path], compile_bytecode: bool = False) -> LambdaSite:
    """Install the layer's requirements and trim them as the layer build does (again only when the requirements,
    the build or the bytecode choice changed), then copy our code in afresh (compiled when `compile_bytecode`)."""
    site = LambdaSite(root)
    build = build_layer()
    stamp = site.opt_python / ".requirements.sha256"
    recipe = REQUIREMENTS.read_bytes() + BUILD_LAYER.read_bytes() + ",".join(sorted(build.services())).encode()
    wanted = hashlib.sha256(recipe + bytes(compile_bytecode)).hexdigest()
    if not stamp.exists() or stamp.read_text() != wanted:
        shutil.rmtree(site.opt_python, ignore_errors=True)
        site.opt_python.mkdir(parents=True)
        uv = Path(sys.executable).with_name("uv")
        command = [str(uv), "pip", "install", "--quiet", "--python", sys.executable, "--target", str(site.opt_python)]
        subprocess.run([*command, "-r", str(REQUIREMENTS)], check=True, capture_output=True, timeout=600)
        build.trim(site.opt_python)
        stamp.write_text(wanted)
    shutil.rmtree(site.opt_python / "dockhand", ignore_errors=True)
    shutil.copytree(LAYER_SOURCE / "dockhand", site.opt_python / "dockhand", ignore=_IGNORE)
    for function_dir in function_dirs:
        shutil.rmtree(site.task(function_dir), ignore_errors=True)
        shutil.copytree(function_dir, site.task(function_dir), ignore=_IGNORE)
    if compile_bytecode:
        build.compile_tree(site.opt_python)
    return site


def stock_boto3(root: Path, compile_bytecode: bool = False) -> Path:
    """boto3 and botocore at the layer's pins, as pip installs them (every service's data, gzip-compressed, with its
    documentation): where the baseline, `import boto3; boto3.client("ecs")`, runs. Compiled like the layer, so the
    two differ only in what the layer build does to botocore's data."""
    pins = [
        line
        for line in REQUIREMENTS.read_text().splitlines()
        if line.startswith(("boto3==", "botocore==", "urllib3=="))
    ]
    stamp = root / ".requirements.sha256"
    wanted = hashlib.sha256("\n".join(pins).encode() + bytes(compile_bytecode)).hexdigest()
    if not stamp.exists() or stamp.read_text() != wanted:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        uv = Path(sys.executable).with_name("uv")
        command = [str(uv), "pip", "install", "--quiet", "--python", sys.executable, "--target", str(root), *pins]
        subprocess.run(command, check=True, capture_output=True, timeout=600)
        if compile_bytecode:
            build_layer().compile_tree(root)
        stamp.write_text(wanted)
    return root


def built_layer_has_bytecode(build_dir: Path) -> bool:
    """Whether `sam build` put compiled modules into the layer (then Lambda need not compile them)."""
    layer = build_dir / "DockhandLayer" / "python"
    return layer.is_dir() and any(layer.rglob("*.pyc"))
