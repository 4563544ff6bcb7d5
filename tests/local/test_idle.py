"""An idle local runtime costs nothing: with nothing to deliver and nothing due, it makes no AWS call (the pump
looks at moto's queues in-process, the timers sleep until something is due), however long it stays up."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.endpoint import Endpoint

from dockhand_local.runtime import Runtime, RuntimeOptions

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local-runtime")]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every AWS request any client of this process sends, by operation."""
    seen: list[str] = []
    lock = threading.Lock()
    send = Endpoint.make_request

    def counted(self: Endpoint, operation_model: Any, request_dict: Any) -> Any:
        with lock:
            seen.append(f"{operation_model.service_model.service_name}:{operation_model.name}")
        return send(self, operation_model, request_dict)

    monkeypatch.setattr(Endpoint, "make_request", counted)
    return seen


@pytest.fixture
def runtime(tmp_path: Path, calls: list[str]) -> Iterator[Runtime]:
    """The sample declaration (a deploy target, a job on a nightly schedule), at the default speed."""
    config = tmp_path / "dockhand.yaml"
    job = {"name": "nightly", "schedule": "cron(0 3 * * ? *)", "timezone": "UTC", "cluster": "jobs"}
    config.write_text(yaml.safe_dump({"version": 1, "jobs": [{**job, "task_definition": "nightly"}]}), "utf-8")
    options = RuntimeOptions(
        config_path=config, state_dir=tmp_path / "state", slack=False, handler_log=tmp_path / "handlers.log"
    )
    with Runtime(options) as rt:
        yield rt


def test_an_idle_runtime_makes_no_aws_call(runtime: Runtime, calls: list[str]) -> None:
    # Given a runtime that has finished starting: nothing queued, its job's next run hours away on the local clock
    assert runtime.wait_idle(timeout=30) == []
    before = len(calls)
    assert before > 0, "the counter saw none of the calls that built the stack"
    # When it stays up, idle, for a few wall seconds (minutes of its clock, 60 times faster)
    time.sleep(3)
    # Then it sent no request at all
    assert calls[before:] == []
