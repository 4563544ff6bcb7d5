"""`sam build` works here without Docker, builds for arm64, and ships nothing local-only.

The built artifacts cannot be imported on this x86_64 host (their extension modules are aarch64), so the test proves
importability the way the Lambda runtime would resolve it: every module a handler imports, transitively, is found in the
function's own folder, the layer's python/ folder or the standard library — and every compiled module in the layer is an
aarch64 ELF built for CPython 3.13.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from dockhand_local.bench.artifacts import resolve_imports

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("DeployerFunction", "WatcherFunction", "BatchFunction", "ScheduleSyncFunction")
EM_AARCH64 = 183
LOCAL_ONLY = ("moto", "dockhand_local", "dockhand_cli", "flask", "werkzeug", "pytest")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("sam")]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build_dir = tmp_path_factory.mktemp("sam") / "build"
    cache_dir = ROOT / ".aws-sam" / "test-cache"
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    sam = shutil.which("sam", path=env["PATH"])
    assert sam, "aws-sam-cli is part of the dev dependencies"
    # Given the template / When sam build runs without a container
    proc = subprocess.run(
        [sam, "build", "--build-dir", str(build_dir), "--cache-dir", str(cache_dir), "--cached", "--parallel"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    # Then it succeeds
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return build_dir


def _elf_machine(path: Path) -> int:
    with path.open("rb") as fh:
        head = fh.read(20)
    assert head[:4] == b"\x7fELF", f"{path} is not an ELF file"
    return struct.unpack("<H", head[18:20])[0]


def test_layer_extension_modules_are_aarch64(built: Path) -> None:
    layer = built / "DockhandLayer" / "python"
    compiled = list(layer.rglob("*.so"))
    # Then pydantic-core is there, and every compiled module is aarch64 for CPython 3.13
    assert any(p.name.startswith("_pydantic_core.cpython-313-aarch64") for p in compiled), compiled
    wrong = [p for p in compiled if _elf_machine(p) != EM_AARCH64 or "x86_64" in p.name]
    assert wrong == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_handler_imports_resolve_from_the_built_layout(built: Path, function: str) -> None:
    layer = built / "DockhandLayer" / "python"
    finder = resolve_imports(built / function, layer)
    found = {name: mod.__file__ for name, mod in finder.modules.items() if mod.__file__}
    # Then the handler reaches the Dockhand library and its dependencies through the layer …
    assert any(name.startswith("dockhand.") for name in found)
    for top in ("pydantic", "aws_lambda_powertools", "boto3", "botocore"):
        assert found.get(top, "").startswith(str(layer)), f"{top} not resolved from the layer"
    # … every module it resolves comes from the function, the layer or the standard library …
    outside = {n: f for n, f in found.items() if not f.startswith((str(built), *map(str, _stdlib_roots())))}
    assert outside == {}
    # … and no Dockhand module it imports is missing.
    missing, _maybe = finder.any_missing_maybe()
    assert [m for m in missing if m.split(".")[0] in ("dockhand", "functions")] == []


def _stdlib_roots() -> list[Path]:
    import sysconfig

    return [Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["platstdlib"])]


def test_no_local_only_code_in_any_artifact(built: Path) -> None:
    # Then neither moto nor the local runtime nor the CLI is shipped in a layer or a function: no importable
    # (top-level) package of theirs. A subpackage may share a name (aws_xray_sdk.ext.flask is the SDK's own).
    roots = [built / "DockhandLayer" / "python", *(built / f for f in FUNCTIONS)]
    shipped = [p for root in roots for p in root.iterdir() if p.name.removesuffix(".py") in LOCAL_ONLY]
    assert shipped == []
    assert (roots[0] / "aws_xray_sdk").is_dir()  # the layer does ship the X-Ray SDK (TracingEnabled=true)


def test_config_layer_carries_the_declarations(built: Path) -> None:
    # The config layer has no build method: the built template points at the source folder, zipped as it is,
    # so the file lands at /opt/dockhand.yaml, where DOCKHAND_CONFIG points.
    from dockhand_local.stack import load_template

    content = load_template(built / "template.yaml")["Resources"]["ConfigLayer"]["Properties"]["ContentUri"]
    assert ((built / content).resolve() / "dockhand.yaml").is_file()
    assert (
        load_template(built / "template.yaml")["Globals"]["Function"]["Environment"]["Variables"]["DOCKHAND_CONFIG"]
        == "/opt/dockhand.yaml"
    )
