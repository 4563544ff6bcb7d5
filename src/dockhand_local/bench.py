"""`make bench`: the figures Dockhand promises, measured here and printed as one table.

SECTIONS is a list: each wing appends its own `Section` (a title and a function returning rows), so one
command reports everything. Nothing here is a test: figures are reported, goals are shown next to them.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dockhand_local.lambda_context import LambdaContext

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "dockhand"
REGION = "us-east-1"
ACCOUNT = "123456789012"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


@dataclass
class Row:
    measure: str
    value: str
    goal: str = ""
    ok: bool | None = None


@dataclass
class Section:
    title: str
    run: Callable[[], list[Row]]
    rows: list[Row] = field(default_factory=list)


SECTIONS: list[Section] = []


def section(title: str) -> Callable[[Callable[[], list[Row]]], Callable[[], list[Row]]]:
    """Register a bench section (decorator)."""

    def add(fn: Callable[[], list[Row]]) -> Callable[[], list[Row]]:
        SECTIONS.append(Section(title, fn))
        return fn

    return add


# ------------------------------------------------------------------------------------ deploy: ECS calls


def _fake_aws_env() -> None:
    for key in list(os.environ):
        if key.startswith(("AWS_", "DOCKHAND_")):
            del os.environ[key]
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_SESSION_TOKEN": "bench",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
        }
    )


def _deploy_calls(clusters: dict[str, int], families: int) -> Counter[str]:
    """ECS calls the real deployer handler makes for one push to services spread over clusters and families."""
    import boto3
    import yaml
    from moto import mock_aws

    _fake_aws_env()
    with mock_aws(), tempfile.TemporaryDirectory() as tmp:
        from dockhand import deps
        from dockhand_local.stack import create_stack

        stack = create_stack(boto3.Session(), region=REGION)
        ecs = boto3.client("ecs", region_name=REGION)
        tds = [
            ecs.register_task_definition(
                family=f"fam{i}",
                containerDefinitions=[{"name": "web", "image": f"{REGISTRY}/web:1.0.0", "memory": 256}],
            )["taskDefinition"]["taskDefinitionArn"]
            for i in range(families)
        ]
        targets, n = [], 0
        for cluster, count in clusters.items():
            ecs.create_cluster(clusterName=cluster)
            names = []
            for _ in range(count):
                name = f"svc{n:02d}"
                ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=tds[n % families], desiredCount=1)
                names.append(name)
                n += 1
            targets.append({"repository": "web", "tags": "semver:^1.0", "cluster": cluster, "services": names})
        config = Path(tmp) / "dockhand.yaml"
        config.write_text(yaml.safe_dump({"version": 1, "deploy": {"targets": targets}}))
        os.environ.update(stack.env_for("DeployerFunction"))
        os.environ["DOCKHAND_CONFIG"] = str(config)
        os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"  # the handler's INFO lines would bury the table
        deps.reset()

        calls: Counter[str] = Counter()
        deps.client("ecs").meta.events.register("before-call.ecs.*", lambda model, **_: calls.update([model.name]))
        from functions.deployer import app

        push = {
            "version": "0",
            "id": "bench-push",
            "detail-type": "ECR Image Action",
            "source": "aws.ecr",
            "account": ACCOUNT,
            "time": "2026-11-01T10:00:00Z",
            "region": REGION,
            "resources": [],
            "detail": {
                "result": "SUCCESS",
                "repository-name": "web",
                "image-digest": "sha256:" + "a" * 64,
                "action-type": "PUSH",
                "image-tag": "1.1.0",
            },
        }
        event = {
            "Records": [
                {
                    "messageId": "m-0",
                    "receiptHandle": "r",
                    "body": json.dumps(push),
                    "attributes": {"MessageGroupId": "ecr-push", "ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": stack.arns.get("DeployQueue", ""),
                    "awsRegion": REGION,
                }
            ]
        }
        result = app.lambda_handler(
            event, LambdaContext("dockhand-bench", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:dockhand-bench")
        )
        if result.get("batchItemFailures"):
            raise RuntimeError(f"the bench deploy failed: {result}")
        deps.reset()
        return calls


def _calls_text(calls: Counter[str]) -> str:
    return f"{sum(calls.values())} (" + ", ".join(f"{k} {v}" for k, v in sorted(calls.items())) + ")"


@section("Deploy: ECS API calls per push")
def deploy_api_calls() -> list[Row]:
    one = _deploy_calls({"prod": 1}, families=1)
    fan = _deploy_calls({"blue": 7, "green": 5}, families=3)
    return [
        Row("one service", _calls_text(one), "4 (the floor)", sum(one.values()) == 4),
        Row(
            "12 services, 2 clusters, 3 families",
            _calls_text(fan),
            "≤ 2 + 3 + 3 + 12 = 20",
            sum(fan.values()) <= 20 and fan["RegisterTaskDefinition"] == 3,
        ),
    ]


# ------------------------------------------------------------------------------------ deploy: cold import

_TIMED = "import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
_DEPLOYER = "import functions.deployer.app"
# The handler creates its clients on first use; this is the import plus what the first record pays for them.
_DEPLOYER_READY = "import functions.deployer.app; from dockhand import deps; deps.client('ecs')"
_BASELINE = "import boto3; boto3.client('ecs')"


def _timed_import(code: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DOCKHAND_", "PYTHONPATH"))}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(LAYER), str(ROOT)]),
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    out = subprocess.run(
        [sys.executable, "-c", _TIMED.format(code=code)], env=env, cwd=ROOT, check=True, capture_output=True, text=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def cold_import_ratio(rounds: int = 9) -> tuple[float, float, float, float]:
    """(deployer, deployer + ECS client, baseline) medians in s and the import ratio, measured alternately in
    fresh interpreters."""
    for code in (_DEPLOYER, _DEPLOYER_READY, _BASELINE):  # warm the file cache and bytecode once, for all
        _timed_import(code)
    deployer, ready, baseline = [], [], []
    for _ in range(rounds):
        deployer.append(_timed_import(_DEPLOYER))
        ready.append(_timed_import(_DEPLOYER_READY))
        baseline.append(_timed_import(_BASELINE))
    d, r, b = statistics.median(deployer), statistics.median(ready), statistics.median(baseline)
    return d, r, b, d / b


def imported_modules() -> set[str]:
    """Top-level packages a fresh `import functions.deployer.app` loads (to spot an eager import)."""
    code = "import sys, functions.deployer.app; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(LAYER), str(ROOT)]), "POWERTOOLS_TRACE_DISABLED": "true"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    return set(out.stdout.split())


@section("Deploy: cold import")
def deploy_cold_import() -> list[Row]:
    d, r, b, ratio = cold_import_ratio()
    loaded = imported_modules()
    return [
        Row("import functions.deployer.app (median of 9)", f"{d * 1000:.0f} ms"),
        Row("… plus its ECS client, as the first record needs (median of 9)", f"{r * 1000:.0f} ms"),
        Row("import boto3; boto3.client('ecs') (median of 9)", f"{b * 1000:.0f} ms"),
        Row("ratio deployer import / boto3 ECS client", f"{ratio:.2f}", "≤ 1.2", ratio <= 1.2),
        Row("ratio deployer import + ECS client / boto3 ECS client", f"{r / b:.2f}"),
        Row(
            "X-Ray SDK imported on the cold path",
            "yes" if "aws_xray_sdk" in loaded else "no",
            "no",
            "aws_xray_sdk" not in loaded,
        ),
    ]


# ------------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console
    from rich.table import Table

    wanted = [a.lower() for a in (argv if argv is not None else sys.argv[1:])]
    console = Console(width=None if sys.stdout.isatty() else 150)
    table = Table("section", "measure", "value", "goal", "", title="Dockhand bench")
    for sec in SECTIONS:
        if wanted and not any(w in sec.title.lower() for w in wanted):
            continue
        with console.status(sec.title):
            sec.rows = sec.run()
        for i, row in enumerate(sec.rows):
            mark = "" if row.ok is None else ("[green]✓[/green]" if row.ok else "[red]✗[/red]")
            table.add_row(sec.title if i == 0 else "", row.measure, row.value, row.goal, mark)
        table.add_section()
    console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
