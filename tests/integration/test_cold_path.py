"""What a cold start does not do: a handler's import builds no pydantic validator (each model builds its own when it
first validates), and never loads Powertools' own pydantic event models (its batch utility imports them when pydantic
was imported before it: tens of milliseconds for models no handler uses).

Each handler is imported in a fresh Python process, as a Lambda container imports it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, sys
import functions.{function}.app
from pydantic import BaseModel

def models(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from models(sub)

ours = {{m for m in models(BaseModel) if m.__module__.startswith("dockhand.")}}
print(json.dumps({{
    "models": len(ours),
    "built": sorted(f"{{m.__module__}}.{{m.__qualname__}}" for m in ours if m.__pydantic_complete__),
    "powertools_models": "aws_lambda_powertools.utilities.parser" in sys.modules,
}}))
"""


@pytest.mark.parametrize("function", ["deployer", "watcher", "batch", "schedule_sync"])
def test_a_handler_import_builds_no_validator_but_the_settings(function: str) -> None:
    # Given a fresh interpreter, as a Lambda container starts / When the handler module is imported
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    env["PYTHONPATH"] = os.pathsep.join(str(ROOT / p) for p in ("layers/dockhand", "src", "."))
    code = SCRIPT.format(function=function)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    # Then of the models it defines, only the settings (read on every record) have built their validator
    assert out["models"] > 10
    assert out["built"] == ["dockhand.settings.Settings"]
    # And Powertools' own event models were never imported
    assert out["powertools_models"] is False
