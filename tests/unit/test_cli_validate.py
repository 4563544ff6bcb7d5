"""`dockhand validate` and `dockhand schema` from a terminal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKHAND = Path(sys.executable).parent / "dockhand"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DOCKHAND), *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_validate_accepts_the_example() -> None:
    proc = run("validate", "config/dockhand.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout and "1 job(s)" in proc.stdout


def test_validate_refuses_with_file_and_field(write_config) -> None:
    # Given a job with an impossible schedule and a FARGATE job without a network
    path = write_config(
        {
            "jobs": [
                {
                    "name": "nightly",
                    "schedule": "every night",
                    "cluster": "c",
                    "task_definition": "t",
                    "launch_type": "FARGATE",
                }
            ]
        }
    )
    # When it is validated from the terminal
    proc = run("validate", str(path))
    # Then it exits non-zero and names the file, the field, the value and what was expected
    assert proc.returncode == 1
    assert str(path) in proc.stderr
    assert "jobs.0.schedule" in proc.stderr
    assert "'every night'" in proc.stderr
    assert "cron(" in proc.stderr


def test_schema_command_prints_the_generated_schema() -> None:
    proc = run("schema")
    assert proc.returncode == 0
    schema = json.loads(proc.stdout)
    assert schema["title"] == "Dockhand configuration"
    assert "jobs" in schema["properties"] and "deploy" in schema["properties"]
