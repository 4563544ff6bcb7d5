"""TracingEnabled: on, every handler's AWS calls reach the X-Ray daemon as subsegments; off, the X-Ray SDK is never
imported (nothing on the cold path).

Each case runs in its own Python process, as a Lambda container would: the tracer patches botocore process-wide.
The X-Ray daemon is a UDP socket on loopback (AWS_XRAY_DAEMON_ADDRESS), read after the invocation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Drives the watcher with one crash event in moto, with the environment template.yaml gives it for TracingEnabled
# (argv[2]), then reports what the daemon received and what was imported.
SCRIPT = r"""
import json, os, socket, sys
daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
daemon.bind(("127.0.0.1", 0))
daemon.settimeout(0.5)
os.environ["AWS_XRAY_DAEMON_ADDRESS"] = "127.0.0.1:%d" % daemon.getsockname()[1]

import boto3
from moto import mock_aws

with mock_aws():
    from dockhand_local.stack import create_stack
    stack = create_stack(boto3.Session(), region="us-east-1")
    # The watcher's environment as template.yaml gives it with this TracingEnabled
    from dockhand_local.stack import resolver
    globals_env = stack.template["Globals"]["Function"]["Environment"]["Variables"]
    traced_env = {k: str(v) for k, v in resolver(stack, {"TracingEnabled": sys.argv[2]})(globals_env).items()}
    os.environ.update({**stack.env_for("WatcherFunction"), **traced_env, "DOCKHAND_CONFIG": sys.argv[1]})
    from functions.watcher import app
    from tests.support.events import load_event, sqs_event
    from dockhand_local.lambda_context import LambdaContext

    imported_with_the_handler = "aws_xray_sdk" in sys.modules
    result = app.lambda_handler(sqs_event(load_event("ecs-task-stopped-oom")), LambdaContext())

documents = []
while True:
    try:
        packet = daemon.recv(65536).decode()
    except socket.timeout:
        break
    documents.append(json.loads(packet.split("\n", 1)[1]))
print(json.dumps({
    "result": result,
    "imported_with_the_handler": imported_with_the_handler,
    "imported": "aws_xray_sdk" in sys.modules,
    "documents": documents,
}))
"""


def invoke(tracing: bool, tmp_path: Path) -> dict:
    config = tmp_path / "dockhand.yaml"
    config.write_text("version: 1\nnotifications: {sns: true}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKHAND_", "POWERTOOLS_", "AWS_XRAY"))}
    env |= {
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/dockhand", "src", ".")),
        "POWERTOOLS_SERVICE_NAME": "dockhand",
        "POWERTOOLS_METRICS_NAMESPACE": "Dockhand",
        # What Lambda sets in a traced function's environment
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "AWS_LAMBDA_FUNCTION_NAME": "dockhand-watcher",
        "_X_AMZN_TRACE_ID": "Root=1-6756a2b1-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1",
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(config), "true" if tracing else "false"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def subsegments(documents: list[dict]) -> list[dict]:
    out = []
    todo = list(documents)
    while todo:
        doc = todo.pop()
        out.append(doc)
        todo += doc.get("subsegments", [])
    return out


@pytest.mark.slow
def test_tracing_on_sends_the_handlers_aws_calls_as_subsegments(tmp_path: Path) -> None:
    # Given TracingEnabled=true / When the watcher handles a task stop
    out = invoke(tracing=True, tmp_path=tmp_path)
    # Then the record succeeded and the daemon got the handler's subsegment and one per AWS call, by service
    assert out["result"] == {"batchItemFailures": []}
    names = {s["name"] for s in subsegments(out["documents"])}
    assert "## lambda_handler" in names
    assert {"dynamodb", "sns"} <= names
    operations = {s.get("aws", {}).get("operation") for s in subsegments(out["documents"])}
    assert {"PutItem", "Publish"} <= operations


@pytest.mark.slow
def test_tracing_off_never_imports_the_xray_sdk(tmp_path: Path) -> None:
    # Given TracingEnabled=false / When the watcher is imported and handles a task stop
    out = invoke(tracing=False, tmp_path=tmp_path)
    # Then it worked, the X-Ray SDK was imported neither with the handler nor by the invocation, nothing was sent
    assert out["result"] == {"batchItemFailures": []}
    assert (out["imported_with_the_handler"], out["imported"], out["documents"]) == (False, False, [])


@pytest.mark.parametrize("function", ["deployer", "watcher", "batch", "schedule_sync"])
def test_no_handler_imports_the_xray_sdk_with_tracing_off(function: str) -> None:
    # Given tracing off / When a handler module is imported, as on a cold start
    code = f"import sys, functions.{function}.app; print('aws_xray_sdk' in sys.modules)"
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    env["PYTHONPATH"] = os.pathsep.join(str(ROOT / p) for p in ("layers/dockhand", "src", "."))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    # Then the X-Ray SDK is not among the imported modules
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "False"
