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


def test_local_deploy_config_refuses_an_invalid_file_before_reaching_a_runtime(write_config, tmp_path: Path) -> None:
    # Given a declarations file with a bad time zone, and no runtime running (no local.json in the state dir)
    path = write_config(
        {
            "jobs": [
                {
                    "name": "r",
                    "schedule": "rate(1 hour)",
                    "timezone": "Mars/Olympus",
                    "cluster": "c",
                    "task_definition": "t",
                }
            ]
        }
    )

    # When it is deployed to the local runtime
    proc = run("local", "deploy-config", str(path), "--state-dir", str(tmp_path))

    # Then it is refused for what it is, naming the field (exit 1), not for the missing runtime (exit 2)
    assert proc.returncode == 1
    assert "jobs.0.timezone" in proc.stderr and "Mars/Olympus" in proc.stderr


def test_local_deploy_config_of_a_valid_file_needs_a_running_runtime(tmp_path: Path) -> None:
    # Given the example declarations and no runtime running
    # When they are deployed to the local runtime
    proc = run("local", "deploy-config", "config/dockhand.yaml", "--state-dir", str(tmp_path))

    # Then it says where it looked and how to start one (exit 2)
    assert proc.returncode == 2
    assert f"{tmp_path / 'local.json'} not found" in proc.stderr and "dockhand local up" in proc.stderr
