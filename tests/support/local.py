"""What the local-runtime tests share: waiting for something the runtime does in the background, and a family
whose tasks moto's RunTask can start on Fargate."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(probe: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """Poll `probe` until it returns something truthy and return that; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")


def register_fargate_family(ecs: Any, family: str) -> str:
    """A one-container awsvpc task definition (moto's RunTask wants container memory)."""
    return str(
        ecs.register_task_definition(
            family=family,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[{"name": "main", "image": "busybox", "memory": 512, "essential": True}],
        )["taskDefinition"]["taskDefinitionArn"]
    )
