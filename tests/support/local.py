"""What the local-runtime tests share: waiting for something the runtime does in the background, and a family
whose tasks moto's RunTask can start on Fargate."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.support.fargate import register_fargate_family

__all__ = ["register_fargate_family", "wait_until"]


def wait_until(probe: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """Poll `probe` until it returns something truthy and return that; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
