"""`sam build` works here without Docker, builds for arm64, and ships nothing local-only.

The built artifacts cannot be imported on this x86_64 host (their extension modules are aarch64), so the test proves
importability the way the Lambda runtime would resolve it: every module a handler imports, transitively, is found in the
function's own folder, the layer's python/ folder or the standard library — and every compiled module in the layer is an
aarch64 ELF built for CPython 3.13. What the layer build trims (botocore data, packages no import reaches) is proven
unneeded the same way, and by making every client a function uses from the built layer's own boto3 (pure Python).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from dockhand.aws.clients import SERVICES
from dockhand_local.bench.artifacts import BY_NAME, resolve_imports
from dockhand_local.bench.lambda_site import build_layer

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = (
    "DeployerFunction",
    "WatcherFunction",
    "BatchFunction",
    "ScheduleSyncFunction",
    "ApproverFunction",
    "HookFunction",
)
EM_AARCH64 = 183
LOCAL_ONLY = ("moto", "dockhand_local", "dockhand_cli", "flask", "werkzeug", "pytest")
_CLIENT_CALL = re.compile(r"""\bclient\(\s*["']([a-z0-9-]+)["']""")

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
    for name in BY_NAME:  # what tracing imports by name
        finder.import_hook(name)
    found = {name: mod.__file__ for name, mod in finder.modules.items() if mod.__file__}
    # Then the handler reaches the Dockhand library and its dependencies through the layer …
    assert any(name.startswith("dockhand.") for name in found)
    for top in ("pydantic", "aws_lambda_powertools", "boto3", "botocore"):
        assert found.get(top, "").startswith(str(layer)), f"{top} not resolved from the layer"
    # … every module it resolves comes from the function, the layer or the standard library …
    outside = {n: f for n, f in found.items() if not f.startswith((str(built), *map(str, _stdlib_roots())))}
    assert outside == {}
    # … no Dockhand module it imports is missing, nor any package a Dockhand module imports (the layer ships it) …
    missing, _maybe = finder.any_missing_maybe()
    assert [m for m in missing if m.split(".")[0] in ("dockhand", "functions")] == []
    ours = ("dockhand", "functions", "app", "__main__")
    absent = [m for m in missing if m.split(".")[0] not in finder.modules]  # a whole package the build lacks
    needed = {m: sorted(i for i in finder.badmodules.get(m, {}) if i.split(".")[0] in ours) for m in absent}
    assert {m: importers for m, importers in needed.items() if importers} == {}
    # … and nothing the layer build trimmed is among what it imports.
    trimmed = [path.removesuffix(".py").replace("/", ".") for path in build_layer().UNREACHED]
    assert [m for m in [*missing, *finder.modules] if any(m == t or m.startswith(f"{t}.") for t in trimmed)] == []


def test_layer_ships_bytecode_for_cpython_313_that_is_never_checked_against_its_source(built: Path) -> None:
    layer = built / "DockhandLayer" / "python"
    sources = list(layer.rglob("*.py"))
    assert len(sources) > 100
    # Then every module has its compiled form beside it …
    lacking = [p for p in sources if not (p.parent / "__pycache__" / f"{p.stem}.cpython-313.pyc").is_file()]
    assert lacking == []
    for source in (layer / "dockhand" / "deps.py", layer / "botocore" / "session.py"):
        header = (source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc").read_bytes()[:8]
        # … written by CPython 3.13 (its magic number), hash-based and unchecked (flags 0b01): never recompiled
        assert header[:4] == importlib.util.MAGIC_NUMBER
        assert int.from_bytes(header[4:8], "little") == 0b01


def test_botocore_data_is_the_services_dockhand_calls(built: Path) -> None:
    data = built / "DockhandLayer" / "python" / "botocore" / "data"
    # Then each service Dockhand calls has its model, and no other service has one …
    assert {p.name for p in data.iterdir() if p.is_dir()} == set(SERVICES)
    # … and the files every client reads are there.
    assert {"endpoints.json", "partitions.json", "_retry.json", "sdk-default-configuration.json"} <= {
        p.name for p in data.iterdir() if p.is_file()
    }
    # … slimmed: plain JSON only (what botocore's loader tries first), the models without their prose
    assert list(data.rglob("*.gz")) == []
    ecs = json.loads(next((data / "ecs").glob("*/service-2.json")).read_text())
    assert "documentation" not in ecs and "documentation" not in ecs["operations"]["UpdateService"]
    assert ecs["operations"]["UpdateService"]["input"] == {"shape": "UpdateServiceRequest"}


def _services_reached(built: Path, function: str) -> set[str]:
    """The services whose clients the function's code can make: `client("…")` in any module its imports reach, and
    Powertools Parameters' Secrets Manager and SSM clients where the Slack channel is reached."""
    finder = resolve_imports(built / function, built / "DockhandLayer" / "python")
    ours = [m for name, m in finder.modules.items() if m.__file__ and name.split(".")[0] in ("dockhand", "__main__")]
    found = {s for m in ours for s in _CLIENT_CALL.findall(Path(str(m.__file__)).read_text(encoding="utf-8"))}
    if "dockhand.notify.slack" in finder.modules:
        found |= {"secretsmanager", "ssm"}
    return found


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_s_clients_can_be_made_from_the_built_layer(built: Path, function: str) -> None:
    services = _services_reached(built, function)
    # Given the services the function's code makes clients of (every one of them among SERVICES)
    assert services and services <= SERVICES
    script = (
        "import json, sys, boto3\n"
        "session = boto3.session.Session(region_name='us-east-1')\n"
        "made = [session.client(s).meta.service_model.service_name for s in json.loads(sys.argv[1])]\n"
        "made.append(session.resource('dynamodb').meta.client.meta.service_model.service_name)\n"
        "print(json.dumps([made, boto3.__file__]))\n"
    )
    # When the built layer's own boto3 (pure Python) makes each client, with nothing else on the path
    made, boto3_file = _run_on_the_layer(built, script, json.dumps(sorted(services)))
    # Then every client exists, made from the layer
    assert sorted(made) == sorted([*services, "dynamodb"])
    assert boto3_file.startswith(str(built / "DockhandLayer" / "python"))


def test_the_built_layer_s_xray_sdk_still_patches_botocore(built: Path) -> None:
    # Given the layer as built, its X-Ray SDK trimmed to what tracing imports (pure Python here: wrapt falls back to
    # its Python wrappers where its aarch64 extension cannot load)
    script = (
        "import json, sys, boto3, botocore.client\n"
        "from aws_xray_sdk.core import patch, xray_recorder\n"
        "xray_recorder.configure(context_missing='IGNORE_ERROR')\n"
        "patch(['botocore'])  # what Tracer(patch_modules=['botocore']) does\n"
        "p = sys.modules['aws_xray_sdk.ext.botocore.patch']\n"
        "boto3.session.Session(region_name='us-east-1').client('ecs')\n"
        "print(json.dumps([type(botocore.client.BaseClient._make_api_call).__name__, p.__file__]))\n"
    )
    # When it patches botocore in a Lambda function's environment, with nothing else on the path
    lambda_env = {"LAMBDA_TASK_ROOT": str(built / "WatcherFunction"), "AWS_LAMBDA_FUNCTION_NAME": "dockhand-watcher"}
    wrapper, patch_file = _run_on_the_layer(built, script, env=lambda_env)
    # Then botocore's calls are wrapped, by the layer's own patch module
    assert wrapper.endswith("FunctionWrapper"), wrapper
    assert patch_file.startswith(str(built / "DockhandLayer" / "python"))


def _run_on_the_layer(built: Path, script: str, *args: str, env: dict[str, str] | None = None) -> list:
    """`script` in `python -S` with the built layer alone on the path; what it printed, as JSON."""
    layer = str(built / "DockhandLayer" / "python")
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": layer, "HOME": "/nonexistent"}
    proc = subprocess.run(
        [sys.executable, "-S", "-c", script, *args],
        env={**base, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return list(json.loads(proc.stdout))


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


def test_config_layer_carries_the_declarations_and_their_validated_form(built: Path) -> None:
    # The config layer's folder is zipped as built, so the file lands at /opt/dockhand.yaml (where DOCKHAND_CONFIG
    # points) and its validated form beside it.
    from dockhand.config import load_config, validated
    from dockhand_local.stack import load_template

    template = load_template(built / "template.yaml")
    content = (built / template["Resources"]["ConfigLayer"]["Properties"]["ContentUri"]).resolve()
    assert template["Globals"]["Function"]["Environment"]["Variables"]["DOCKHAND_CONFIG"] == "/opt/dockhand.yaml"
    assert (content / "dockhand.yaml").read_bytes() == (ROOT / "config" / "dockhand.yaml").read_bytes()
    # Then the validated form is the config the file gives, and a function of this build uses it
    assert validated.read(content / "dockhand.yaml") == load_config(ROOT / "config" / "dockhand.yaml")
    assert sorted(p.name for p in content.iterdir()) == ["dockhand.validated.pickle", "dockhand.yaml"]
