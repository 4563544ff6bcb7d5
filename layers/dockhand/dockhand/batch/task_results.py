"""What a RunTask call came to, and what a stopped task says about its run. Pure.

RunTask can fail three ways: an exception (throttling, capacity, a bad request), an HTTP 200 with
`failures[]` (RESOURCE:MEMORY, AGENT, ATTRIBUTE …), or an HTTP 200 with no task and no failure (a cluster
where nothing fits). Each one is a launch failure with a reason, retried within the job's budget when a
later attempt may get past it; none is ever silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockhand.aws.clients import error_code, is_retryable
from dockhand.errors import RetryableError
from dockhand.events import TaskDetail

_CAPACITY_HINTS = ("capacity", "no container instances", "resource:", "insufficient")


@dataclass(frozen=True)
class LaunchResult:
    task: dict[str, Any] | None
    reason: str = ""
    retryable: bool = True

    @property
    def ok(self) -> bool:
        return self.task is not None


def from_response(tasks: list[dict[str, Any]], failures: list[dict[str, Any]]) -> LaunchResult:
    if tasks:
        return LaunchResult(task=tasks[0])
    if failures:
        reasons = sorted(
            {f"{f.get('reason', 'UNKNOWN')}" + (f" ({f['detail']})" if f.get("detail") else "") for f in failures}
        )
        return LaunchResult(task=None, reason="RunTask failures: " + ", ".join(reasons))
    return LaunchResult(task=None, reason="RunTask placed no task (no capacity in the cluster)")


def from_exception(exc: BaseException) -> LaunchResult:
    """Throttling, 5xx and capacity errors may pass on a later attempt; a bad request never will."""
    cause = exc.__cause__ if isinstance(exc, RetryableError) and exc.__cause__ else exc
    code = error_code(cause) or type(cause).__name__
    message = str(cause)
    if isinstance(exc, RetryableError) or is_retryable(cause):
        return LaunchResult(task=None, reason=f"RunTask {code}: {message}"[:500], retryable=True)
    capacity = any(hint in message.lower() for hint in _CAPACITY_HINTS)
    return LaunchResult(task=None, reason=f"RunTask {code}: {message}"[:500], retryable=capacity)


def exit_of(detail: TaskDetail) -> tuple[int | None, list[str]]:
    """The exit code that decides the run (the first non-zero one; 0 when every container exited 0; None when
    some container has no code, e.g. the task never started) and the reasons worth matching."""
    codes = [c.exit_code for c in detail.containers]
    reasons = [c.reason for c in detail.containers if c.reason] + [r for r in (detail.stopped_reason,) if r]
    failing = [c for c in codes if c not in (None, 0)]
    if failing:
        return failing[0], reasons
    if codes and all(c == 0 for c in codes):
        return 0, reasons
    return None, reasons


def describe_stop(detail: TaskDetail) -> str:
    """The most useful reason: a container's own reason beats the task's generic one."""
    for c in detail.containers:
        if c.reason:
            return f"{c.name}: {c.reason}"
    return detail.stopped_reason or detail.stop_code or "stopped"
