"""The example programs of docs/getting-started.md do what the guide says: the web server answers and checks its
own health, a BROKEN build exits at start, the batch task does its work and exits; both Dockerfiles build for any
architecture without running anything."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockhand_local.stack import ROOT
from tests.support.local import wait_until

EXAMPLES = ROOT / "examples"
SERVER = EXAMPLES / "web" / "server.py"
REPORT = EXAMPLES / "batch" / "report.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(script: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=30
    )


def _get(port: int, path: str) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[str], int]]:
    """hello-web as its image starts it: version and architecture from the build, the port from PORT."""
    port = _free_port()
    env = {**os.environ, "PORT": str(port), "APP_VERSION": "1.1.0", "APP_ARCH": "arm64"}
    process = subprocess.Popen([sys.executable, str(SERVER)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: _run(SERVER, {"PORT": str(port)}, "--check").returncode == 0, "hello-web to answer", 20)
        yield process, port
    finally:
        process.kill()
        process.wait(timeout=10)


def test_the_web_server_says_hello_with_its_version_and_architecture(server: tuple[subprocess.Popen[str], int]) -> None:
    # Given hello-web running
    _, port = server

    # When its pages are asked for
    # Then / says hello with what the image was built as, /health is 200 and anything else 404
    assert _get(port, "/") == (200, {"hello": "from ECS", "version": "1.1.0", "arch": "arm64"})
    assert _get(port, "/health") == (200, {"status": "ok"})
    assert _get(port, "/nope")[0] == 404


def test_the_health_check_passes_while_it_runs_and_fails_once_sigterm_stopped_it(
    server: tuple[subprocess.Popen[str], int],
) -> None:
    # Given hello-web running, whose health check (the task definition's command) passes
    process, port = server
    assert _run(SERVER, {"PORT": str(port)}, "--check").returncode == 0

    # When ECS stops it (SIGTERM)
    process.send_signal(signal.SIGTERM)

    # Then it exits 0, and its health check fails from then on
    assert process.wait(timeout=10) == 0
    assert _run(SERVER, {"PORT": str(port)}, "--check").returncode == 1


def test_an_image_built_broken_exits_at_start_saying_why() -> None:
    # Given the environment `--build-arg BROKEN=1` gives the image
    # When it starts
    out = _run(SERVER, {"PORT": str(_free_port()), "BROKEN": "1"})

    # Then it exits 1 at once (the circuit breaker's case), saying why on stderr (the task's log)
    assert out.returncode == 1
    assert "refusing to start" in out.stderr and "BROKEN=1" in out.stderr


def test_the_batch_task_does_its_work_and_exits_0() -> None:
    # Given the job's environment (its override sets REPORT_DAYS)
    # When the one-off task runs
    out = _run(REPORT, {"REPORT_DAYS": "1", "APP_VERSION": "1.0.0"})

    # Then it reports what it did and exits 0
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("hello-batch 1.0.0: report from ")
    assert "day 1 of 1: done" in out.stdout and out.stdout.rstrip().endswith("hello-batch: finished")


def test_the_batch_task_exits_1_on_a_bad_setting() -> None:
    # When REPORT_DAYS is not a number
    out = _run(REPORT, {"REPORT_DAYS": "yesterday"})

    # Then it exits 1, naming the setting
    assert out.returncode == 1 and "REPORT_DAYS must be a whole number" in out.stderr


@pytest.mark.parametrize("image", ["web", "batch"])
def test_the_dockerfiles_build_for_any_architecture_without_running_anything(image: str) -> None:
    # Given an example's Dockerfile
    folder = EXAMPLES / image
    lines = [line.split() for line in (folder / "Dockerfile").read_text(encoding="utf-8").splitlines()]
    instructions = [words for words in lines if words and not words[0].startswith("#")]

    # Then buildx's TARGETARCH reaches the program, no RUN step executes at build time, it runs as a non-root user
    assert ["ARG", "TARGETARCH"] in instructions
    assert any(w[0] == "ENV" and "APP_ARCH=${TARGETARCH}" in w for w in instructions)
    assert not [w for w in instructions if w[0] == "RUN"]
    assert ["USER", "nobody"] in instructions
    # And what it copies is in the folder, and what it runs is what it copied
    copies = [w[1] for w in instructions if w[0] == "COPY"]
    assert copies and all((folder / name).is_file() for name in copies)
    (cmd,) = [json.loads(" ".join(w[1:])) for w in instructions if w[0] == "CMD"]
    assert cmd[0] == "python3" and Path(cmd[1]).name in copies
