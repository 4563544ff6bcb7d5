"""The local clock: it starts at --clock-start once the stack is ready, and schedules fire on it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from dockhand_local.runtime import Runtime, RuntimeOptions

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local-runtime")]

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_a_schedule_due_a_minute_after_the_clock_start_fires(tmp_path: Path) -> None:
    # Given a job due at 10:01 UTC and a runtime whose clock starts at 10:00 and runs 120 times faster
    # (building the stack takes seconds of wall time: minutes of local time at that speed)
    config = tmp_path / "dockhand.yaml"
    job = {
        "name": "early",
        "schedule": "cron(1 10 * * ? *)",
        "timezone": "UTC",
        "cluster": "c",
        "task_definition": "early",
        "launch_type": "EC2",
    }
    config.write_text(yaml.safe_dump({"version": 1, "jobs": [job]}), encoding="utf-8")
    options = RuntimeOptions(
        config_path=config,
        state_dir=tmp_path / "state",
        speed=120.0,
        clock_start=START,
        slack=False,
        handler_log=tmp_path / "handlers.log",
    )

    # When the runtime is up
    with Runtime(options) as runtime:
        started = runtime.clock.now()
        deadline = time.monotonic() + 20
        fired: list[str] = []
        while time.monotonic() < deadline and not fired:
            fired = [e.text for e in runtime.timeline if e.kind == "scheduler" and "fired" in e.text]
            time.sleep(0.1)

    # Then the clock began at 10:00, not minutes later, and the 10:01 run fired
    assert (started - START).total_seconds() < 60, started
    assert fired == ["schedule early fired for 2026-03-02T10:01:00Z"], fired
