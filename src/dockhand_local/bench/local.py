"""Figure 5: push to UpdateService on the local runtime — from `put-image` to the service on its new task
definition, split into routing (ECR → EventBridge → the deploy queue), queue wait (until the pump hands the message
to the deployer) and the deployer's own time until its UpdateService.

The split comes from hooks on the emulator's own services (the message entering and leaving the deploy queue, the
UpdateService arriving), which the runtime serves in this process; the runtime itself is driven only through its
public API and the AWS API it serves.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from dockhand_local.bench.report import Result, Row, ms
from dockhand_local.images import image_manifest
from dockhand_local.runtime import Runtime, RuntimeOptions
from dockhand_local.stack import ACCOUNT

FIGURE = "5 push to UpdateService (local runtime)"


class _Marks:
    """Wall-clock marks the emulator's services set as a push goes through (perf_counter seconds)."""

    def __init__(self, queue_name: str) -> None:
        self.queue_name = queue_name
        self.enqueued: list[float] = []
        self.received: list[float] = []
        self.updated: list[float] = []
        self.changed = threading.Event()

    def install(self, region: str) -> None:
        from moto.ecs.models import ecs_backends
        from moto.sqs.models import sqs_backends

        sqs, ecs = sqs_backends[ACCOUNT][region], ecs_backends[ACCOUNT][region]
        send, receive, update = sqs.send_message, sqs.receive_message, ecs.update_service

        def send_message(queue_name: str, *args: Any, **kwargs: Any) -> Any:
            out = send(queue_name, *args, **kwargs)
            if queue_name == self.queue_name:
                self.enqueued.append(time.perf_counter())
            return out

        def receive_message(queue_name: str, *args: Any, **kwargs: Any) -> Any:
            out = receive(queue_name, *args, **kwargs)
            if queue_name == self.queue_name and out:
                self.received.append(time.perf_counter())
            return out

        def update_service(*args: Any, **kwargs: Any) -> Any:
            out = update(*args, **kwargs)
            self.updated.append(time.perf_counter())
            self.changed.set()
            return out

        sqs.send_message, sqs.receive_message, ecs.update_service = send_message, receive_message, update_service


def measure(workdir: Path, pushes: int) -> Result:
    """`pushes` pushes one after another; the first meets a cold deployer, the others a warm one."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "local.yaml"
    config.write_text(
        json.dumps(
            {
                "version": 1,
                "deploy": {
                    "targets": [{"repository": "web", "tags": "semver:^1.0", "cluster": "demo", "services": ["web"]}]
                },
                "notifications": {"sns": True, "slack": {"mode": "bot", "channel": "C0BENCH"}},
            }
        )
    )
    options = RuntimeOptions(
        config_path=config,
        speed=1.0,
        deploy_delay=0.2,
        state_dir=workdir / "state",
        handler_log=workdir / "handlers.log",
    )
    runtime = Runtime(options)
    runtime.start()
    try:
        assert runtime.stack is not None
        marks = _Marks(runtime.stack.queue_url("DeployQueue").rsplit("/", 1)[-1])
        ecr, ecs = runtime.client("ecr"), runtime.client("ecs")
        registry = f"{ACCOUNT}.dkr.ecr.{runtime.region}.amazonaws.com"
        ecr.create_repository(repositoryName="web")
        ecs.create_cluster(clusterName="demo")
        td = ecs.register_task_definition(
            family="web", containerDefinitions=[{"name": "web", "image": f"{registry}/web:1.0.0", "memory": 256}]
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster="demo", serviceName="web", taskDefinition=td, desiredCount=1)
        marks.install(runtime.region)
        runs = []
        for i in range(pushes):
            before = ecs.describe_services(cluster="demo", services=["web"])["services"][0]["taskDefinition"]
            marks.changed.clear()
            started = time.perf_counter()
            ecr.put_image(repositoryName="web", imageManifest=image_manifest(f"bench-{i}"), imageTag=f"1.{i + 1}.0")
            if not marks.changed.wait(60):
                raise RuntimeError(f"the push of web:1.{i + 1}.0 reached no UpdateService: {runtime.errors}")
            after = ecs.describe_services(cluster="demo", services=["web"])["services"][0]["taskDefinition"]
            if after == before:
                raise RuntimeError("UpdateService left the service on its old task definition")
            runs.append(
                {
                    "total_ms": (marks.updated[-1] - started) * 1000,
                    "routing_ms": (marks.enqueued[-1] - started) * 1000,
                    "queue_wait_ms": (marks.received[-1] - marks.enqueued[-1]) * 1000,
                    "handler_ms": (marks.updated[-1] - marks.received[-1]) * 1000,
                }
            )
            time.sleep(options.deploy_delay + 0.3)  # the deployment completes before the next push
    finally:
        runtime.stop()
    cold, warm = runs[0], runs[1:] or runs
    # the warm push of median total, whole, so that its parts add up
    median = sorted(warm, key=lambda r: r["total_ms"])[len(warm) // 2]
    rows = [
        Row(FIGURE, label, _split(run))
        for label, run in (
            ("first push (cold deployer)", cold),
            (f"later pushes (warm deployer; the median of {len(warm)})", median),
        )
    ]
    return Result(rows, {"cold": cold, "warm": median, "pushes": pushes})


def _split(run: dict[str, float]) -> str:
    return (
        f"{ms(run['total_ms'])} = routing {ms(run['routing_ms'])} + queue wait {ms(run['queue_wait_ms'])}"
        f" + deployer {ms(run['handler_ms'])}"
    )
