"""Builds the Dockhand layer as Lambda loads it: `sam build` runs this through the Makefile beside it.

1. The same `pip install` sam's python3.13 builder makes for arm64: binary wheels for CPython 3.13 on
   manylinux aarch64 (glibc up to 2.34, as the python3.13 runtime has), into python/.
2. The `dockhand` package copied in (sources only).
3. Trimmed: botocore's (and boto3's) data kept only for the services Dockhand calls (`SERVICES` in
   dockhand/aws/clients.py) plus the endpoint, partition, retry and default-configuration files every client
   reads; what no handler's import reaches removed (`UNREACHED`). Slimmed: what botocore reads to make a client is
   most of a client's cost, so the kept models lose their documentation (prose only help and docs generators read),
   endpoints.json keeps the kept services alone, the examples go, and every file is stored as plain compact JSON
   (botocore's loader tries `.json` before `.json.gz`; a gzip read costs more than the bytes it saves).
4. Compiled: `compileall` with unchecked-hash invalidation, so Lambda's read-only /opt never makes a cold start
   compile a module again. Bytecode is for one CPython minor version: this script refuses any other than 3.13.

Standard library only: it runs with whatever python3.13 `sam build` finds. The bench uses `trim` and
`compile_tree` on the layer it lays out for this machine, so what it measures is what ships.
"""

from __future__ import annotations

import argparse
import ast
import compileall
import gzip
import json
import py_compile
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
CLIENTS = HERE / "dockhand" / "aws" / "clients.py"
RUNTIME = (3, 13)  # python3.13: .pyc files are read only by the CPython minor version that wrote them
ARM64 = (  # what sam's python3.13 builder accepts for arm64 (aws_lambda_builders' compatible platforms)
    "manylinux_2_34_aarch64",
    "manylinux_2_28_aarch64",
    "manylinux_2_17_aarch64",
    "manylinux2014_aarch64",
    "linux_aarch64",
)
# botocore data every client reads whatever its service: endpoints, partitions, retries, default configuration.
SHARED_DATA = ("endpoints.json", "partitions.json", "_retry.json", "sdk-default-configuration.json")
DOC_KEYS = frozenset({"documentation", "documentationUrl"})  # a service model's prose (help() and docs read it)
# Folders and files under python/ that no handler's import reaches (nor a handler boto3 names by string): services and
# features Dockhand never uses. tests/build checks that none of them is among what the handlers' imports reach.
UNREACHED = (
    "bin",  # console scripts (jp.py)
    "aws_lambda_powertools/event_handler/middlewares/schema_validation.py",
    "aws_lambda_powertools/logging/formatters/datadog.py",
    "aws_lambda_powertools/metrics/provider/datadog",
    "aws_lambda_powertools/utilities/auth_alpha",
    "aws_lambda_powertools/utilities/circuit_breaker",
    "aws_lambda_powertools/utilities/data_classes/active_mq_event.py",
    "aws_lambda_powertools/utilities/data_classes/api_gateway_authorizer_event.py",
    "aws_lambda_powertools/utilities/data_classes/appsync",
    "aws_lambda_powertools/utilities/data_classes/appsync_authorizer_event.py",
    "aws_lambda_powertools/utilities/data_classes/cognito_user_pool_event.py",
    "aws_lambda_powertools/utilities/data_classes/iot_registry_event.py",
    "aws_lambda_powertools/utilities/data_classes/rabbit_mq_event.py",
    "aws_lambda_powertools/utilities/data_classes/s3_object_event.py",
    "aws_lambda_powertools/utilities/data_masking",
    "aws_lambda_powertools/utilities/feature_flags",
    "aws_lambda_powertools/utilities/idempotency",
    "aws_lambda_powertools/utilities/kafka",
    "aws_lambda_powertools/utilities/metadata",
    "aws_lambda_powertools/utilities/parser/models/iot_registry_events.py",
    "aws_lambda_powertools/utilities/streaming",
    "aws_lambda_powertools/utilities/validation",
    "annotated_types/test_cases.py",
    "boto3/crt.py",
    "boto3/ec2",  # handlers boto3 loads only for EC2 and S3 clients
    "boto3/s3",
    "botocore/stub.py",  # a testing aid
    "dateutil/tzwin.py",
    "dateutil/zoneinfo/rebuild.py",
    "pydantic/mypy.py",  # type-checker plugins
    "pydantic/v1/mypy.py",
    "pydantic/v1/_hypothesis_plugin.py",
    "s3transfer/crt.py",
    "s3transfer/processpool.py",
    "urllib3/contrib/socks.py",
    "_yaml",  # PyYAML's old shim package (yaml imports yaml._yaml)
    "aws_lambda_powertools/event_handler/openapi/pydantic_loader.py",
    "aws_lambda_powertools/event_handler/router.py",
    "aws_lambda_powertools/logging/buffer/handler.py",
    "aws_lambda_powertools/logging/correlation_paths.py",
    "aws_lambda_powertools/logging/formatters",
    "aws_lambda_powertools/logging/utils.py",
    "aws_lambda_powertools/metrics/metric.py",
    "aws_lambda_powertools/utilities/jmespath_utils/envelopes.py",
    "aws_lambda_powertools/utilities/serialization.py",  # only Firehose records' helpers import it
    # X-Ray: the tracer patches botocore alone (dockhand/observability.py), through aws_xray_sdk/ext/botocore (named
    # by string, kept with boto_utils, util and resources); Powertools' Tracer imports ext/aiohttp/client and
    # ext/httplib in its own methods (kept). No plugin is configured, nothing runs async.
    "aws_xray_sdk/core/async_context.py",
    "aws_xray_sdk/core/plugins/ec2_plugin.py",
    "aws_xray_sdk/core/plugins/ecs_plugin.py",
    "aws_xray_sdk/core/plugins/elasticbeanstalk_plugin.py",
    "aws_xray_sdk/core/utils/sqs_message_helper.py",
    *(
        f"aws_xray_sdk/ext/{name}"
        for name in (
            "aiobotocore",
            "aiohttp/middleware.py",
            "bottle",
            "dbapi2.py",
            "django",
            "flask",
            "flask_sqlalchemy",
            "httpx",
            "mysql",
            "pg8000",
            "psycopg",
            "psycopg2",
            "pymongo",
            "pymysql",
            "pynamodb",
            "requests",
            "sqlalchemy",
            "sqlalchemy_core",
            "sqlite3",
        )
    ),
    "botocore/docs/translator.py",
    "dateutil/utils.py",
    # pydantic's modules of moved or removed v1 names (its __getattr__ names them when such a name is used; Dockhand
    # uses none), its experimental API, and v1's generics
    *(
        f"pydantic/{name}.py"
        for name in (
            "class_validators",
            "datetime_parse",
            "decorator",
            "deprecated/decorator",
            "env_settings",
            "error_wrappers",
            "generics",
            "json",
            "parse",
            "schema",
            "tools",
            "typing",
            "utils",
            "validators",
            "v1/generics",
        )
    ),
    "pydantic/experimental",
    "s3transfer/subscribers.py",  # boto3's S3 transfers (boto3/s3 is gone)
)


def services() -> frozenset[str]:
    """The AWS services Dockhand's code calls, read from `SERVICES` in dockhand/aws/clients.py (not imported:
    its dependencies are not installed where this runs)."""
    for node in ast.parse(CLIENTS.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SERVICES" for t in node.targets):
            value = node.value
            if isinstance(value, ast.Call) and value.args:  # frozenset({...})
                value = value.args[0]
            return frozenset(ast.literal_eval(value))
    raise SystemExit(f"{CLIENTS}: no SERVICES = frozenset({{...}}) found")


def check_python() -> None:
    if sys.implementation.name != "cpython" or sys.version_info[:2] != RUNTIME:
        found = f"{sys.implementation.name} {sys.version.split()[0]}"
        raise SystemExit(f"the layer's bytecode is for CPython {RUNTIME[0]}.{RUNTIME[1]} (python3.13), not {found}")


def install(target: Path, requirements: Path = REQUIREMENTS) -> None:
    """pip install for Lambda's python3.13 on arm64, whatever machine this runs on; nothing compiled yet."""
    platforms = [arg for platform in ARM64 for arg in ("--platform", platform)]
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    command += ["--target", str(target), "--only-binary=:all:", "--implementation", "cp", "--abi", "cp313"]
    command += ["--python-version", "3.13", *platforms, "-r", str(requirements)]
    subprocess.run(command, check=True)


def copy_package(target: Path) -> None:
    shutil.rmtree(target / "dockhand", ignore_errors=True)
    shutil.copytree(HERE / "dockhand", target / "dockhand", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def trim(site: Path, keep: Iterable[str] | None = None) -> list[Path]:
    """Remove what no import reaches: other services' botocore and boto3 data, and the `UNREACHED` packages; then
    `slim` what is kept. Returns what it removed."""
    keep = frozenset(services() if keep is None else keep)
    removed: list[Path] = []
    for data in (site / "botocore" / "data", site / "boto3" / "data"):
        if data.is_dir():
            removed += [p for p in data.iterdir() if p.is_dir() and p.name not in keep]
    removed += [site / path for path in UNREACHED if (site / path).exists()]
    for path in removed:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    botocore_data = site / "botocore" / "data"
    missing = [s for s in sorted(keep) if not any((botocore_data / s).glob("*/service-2.json*"))]
    missing += [name for name in SHARED_DATA if not (botocore_data / name).is_file()]
    if missing:
        raise SystemExit(f"botocore data lacks what Dockhand calls: {', '.join(missing)}")
    slim(site)
    return removed


def slim(site: Path) -> None:
    """The kept botocore data as botocore reads it fastest: service models without their documentation,
    endpoints.json without other services, no examples, every file compact `.json` (no `.json.gz` left)."""
    data = site / "botocore" / "data"
    prefixes: set[str] = set()
    for packed in sorted(data.rglob("*.json.gz")):
        packed.with_suffix("").write_bytes(gzip.decompress(packed.read_bytes()))
        packed.unlink()
    for example in data.rglob("examples-1.json"):
        example.unlink()
    for model in data.glob("*/*/service-2.json"):
        content = json.loads(model.read_text(encoding="utf-8"))
        prefixes |= {model.parent.parent.name, content.get("metadata", {}).get("endpointPrefix", "")}
        for section in ("operations", "shapes"):
            content[section] = _undocumented(content.get(section, {}))
        content.pop("documentation", None)
        _write_compact(model, content)
    for path in data.rglob("*.json"):
        if path.name == "endpoints.json" and path.parent == data:
            content = json.loads(path.read_text(encoding="utf-8"))
            for partition in content.get("partitions", []):
                services = partition.get("services", {})
                partition["services"] = {name: value for name, value in services.items() if name in prefixes}
            _write_compact(path, content)
        elif path.name != "service-2.json":
            _write_compact(path, json.loads(path.read_text(encoding="utf-8")))


def _undocumented(node: object) -> object:
    """`node` without its documentation strings (`documentation`, `documentationUrl`): a member that happens to be
    called so is a dict, and stays."""
    if isinstance(node, dict):
        return {k: _undocumented(v) for k, v in node.items() if not (k in DOC_KEYS and isinstance(v, str))}
    if isinstance(node, list):
        return [_undocumented(v) for v in node]
    return node


def _write_compact(path: Path, content: object) -> None:
    """Written beside and moved over: the installer may have hard-linked `path` to its cache (uv does), and writing
    into it would change that file for every environment sharing it."""
    fresh = path.with_name(path.name + ".new")
    fresh.write_text(json.dumps(content, separators=(",", ":")), encoding="utf-8")
    fresh.replace(path)


def compile_tree(site: Path, prefix: str | None = None, workers: int = 1) -> None:
    """Every module compiled beside its source, unchecked-hash: Lambda never checks a source against it (so the
    file times a layer's zip gives are irrelevant) and never recompiles. `prefix` is where the folder is seen at
    run time (/opt/python), so tracebacks name the real paths; `workers=0` compiles on every core (in a process
    that runs no threads: the pool forks)."""
    ok = compileall.compile_dir(
        site,
        quiet=1,
        stripdir=str(site) if prefix else None,
        prependdir=prefix,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        workers=workers,
    )
    if not ok:
        raise SystemExit(f"compileall failed under {site}")


def build(target: Path) -> None:
    check_python()
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    install(target)
    copy_package(target)
    trim(target)
    compile_tree(target, prefix="/opt/python", workers=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path, help="the layer's python/ folder ($ARTIFACTS_DIR/python)")
    build(parser.parse_args(argv).target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
