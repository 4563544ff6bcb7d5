"""Why did a task stop? A pure classification of an `ECS Task State Change` detail.

The answer names the container to blame and shows *its* reason and exit code, never the task-level
"Essential container in task exited". Unknown stop codes and missing fields (`exitCode`, an empty
`containers` list) are tolerated: the worst outcome is the cause `unknown`.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from dockhand.config import Severity, WatchSection
from dockhand.events import Container, TaskDetail


class Cause(StrEnum):
    APP_EXIT = "app_exit"
    OOM = "oom"
    IMAGE_PULL = "image_pull"
    CONFIGURATION = "configuration"
    STARTUP = "startup"
    CAPACITY = "capacity"
    ELB_HEALTH = "elb_health"
    CONTAINER_HEALTH = "container_health"
    SPOT = "spot"
    MAINTENANCE = "maintenance"
    HOST_FAILURE = "host_failure"
    SCALE_IN = "scale_in"
    USER_STOP = "user_stop"
    CLEAN_EXIT = "clean_exit"
    UNKNOWN = "unknown"


LABELS: dict[Cause, str] = {
    Cause.APP_EXIT: "application exited with an error",
    Cause.OOM: "out of memory",
    Cause.IMAGE_PULL: "image pull failed",
    Cause.CONFIGURATION: "container could not be created",
    Cause.STARTUP: "start-up failed",
    Cause.CAPACITY: "no capacity to place the task",
    Cause.ELB_HEALTH: "failed load-balancer health checks",
    Cause.CONTAINER_HEALTH: "failed container health checks",
    Cause.SPOT: "Spot interruption",
    Cause.MAINTENANCE: "infrastructure maintenance",
    Cause.HOST_FAILURE: "unplanned host failure",
    Cause.SCALE_IN: "stopped by a deployment or scale-in",
    Cause.USER_STOP: "stopped by a user",
    Cause.CLEAN_EXIT: "exited cleanly",
    Cause.UNKNOWN: "unknown cause",
}


def label_of(cause: str) -> str:
    """The words for a cause's code (`oom` → `out of memory`); an unknown code as it is."""
    try:
        return LABELS[Cause(cause)]
    except ValueError:
        return cause


SEVERITY: dict[Cause, Severity] = {
    Cause.APP_EXIT: "error",
    Cause.OOM: "error",
    Cause.IMAGE_PULL: "error",
    Cause.CONFIGURATION: "error",
    Cause.STARTUP: "error",
    Cause.CAPACITY: "error",
    Cause.ELB_HEALTH: "error",
    Cause.CONTAINER_HEALTH: "error",
    Cause.SPOT: "warning",
    Cause.MAINTENANCE: "warning",
    Cause.HOST_FAILURE: "warning",
    Cause.UNKNOWN: "warning",
    Cause.SCALE_IN: "info",
    Cause.USER_STOP: "info",
    Cause.CLEAN_EXIT: "info",
}

_GENERIC_TASK_REASON = "essential container in task exited"
_OOM = re.compile(r"OutOfMemory", re.IGNORECASE)
_PULL = re.compile(r"CannotPullContainerError|pull image manifest|failed to resolve ref", re.IGNORECASE)
_CONFIG = re.compile(r"CannotCreateContainerError|CannotStartContainerError|InvalidParameter", re.IGNORECASE)
_STARTUP = re.compile(
    r"ResourceInitializationError|network interface provisioning|ENI|unable to pull secrets", re.IGNORECASE
)
_ELB = re.compile(r"ELB health check|target-group|load balancer health", re.IGNORECASE)
_HEALTH = re.compile(r"container health check", re.IGNORECASE)
_SPOT = re.compile(r"Spot Task was interrupted|spot interruption", re.IGNORECASE)
_MAINTENANCE = re.compile(r"maintenance|retire|patching", re.IGNORECASE)
_SCALE_IN = re.compile(r"Scaling activity initiated|deployment ecs-svc|scale-in|scale in", re.IGNORECASE)
_USER = re.compile(r"stopped by user", re.IGNORECASE)


@dataclass(frozen=True)
class StopCause:
    cause: Cause
    container: str | None = None
    exit_code: int | None = None
    reason: str = ""
    stop_code: str | None = None

    @property
    def label(self) -> str:
        return LABELS[self.cause]

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.cause]

    @property
    def failure(self) -> bool:
        """A failure is anything a person may need to act on (not a planned or clean stop)."""
        return self.cause not in (Cause.SCALE_IN, Cause.USER_STOP, Cause.CLEAN_EXIT)

    def summary(self) -> str:
        """`out of memory: app exited 137 (OutOfMemoryError: Container killed …)`."""
        parts = [self.label]
        if self.container:
            detail = f"{self.container} exited {self.exit_code}" if self.exit_code is not None else self.container
            if self.reason:
                detail += f" ({self.reason})"
            parts.append(detail)
        elif self.reason:
            parts.append(self.reason)
        return ": ".join(parts)


def _blamed(containers: list[Container], essential: Collection[str] | None) -> Container | None:
    """The container to blame: one with a reason of its own, else a non-zero exit, else a missing exit code."""
    if not containers:
        return None

    def is_essential(c: Container) -> bool:
        return essential is None or c.name in essential

    ranked = sorted(containers, key=lambda c: not is_essential(c))  # stable: essential ones first
    for test in (
        lambda c: bool(c.reason),
        lambda c: c.exit_code not in (None, 0),
        lambda c: c.exit_code is None,
    ):
        found = next((c for c in ranked if test(c)), None)
        if found is not None:
            return found
    return ranked[0]


@dataclass(frozen=True)
class _Facts:
    """What the classification reads off one stopped task."""

    code: str  # the task's stopCode
    task_reason: str
    blamed: Container | None
    container_reason: str
    has_containers: bool

    @property
    def both(self) -> str:
        return f"{self.container_reason} {self.task_reason}"

    @property
    def exit_code(self) -> int | None:
        return self.blamed.exit_code if self.blamed else None


def classify_stop(task: TaskDetail, essential: Collection[str] | None = None) -> StopCause:
    """Classify one stopped task. `essential` (container names from the task definition) sharpens the blame."""
    blamed = _blamed(list(task.containers), essential)
    facts = _Facts(
        code=task.stop_code or "",
        task_reason=(task.stopped_reason or "").strip(),
        blamed=blamed,
        container_reason=(blamed.reason or "").strip() if blamed else "",
        has_containers=bool(task.containers),
    )
    generic = facts.task_reason.lower() == _GENERIC_TASK_REASON
    shown = facts.container_reason or ("" if generic else facts.task_reason)
    cause = _by_reason(facts) or _by_stop_code(facts) or Cause.UNKNOWN
    return StopCause(cause, blamed.name if blamed else None, facts.exit_code, shown, task.stop_code)


# Reasons that name their cause, wherever they appear (the container's reason or the task's), first match wins.
_NAMED_BY_REASON = (
    (_OOM, Cause.OOM),
    (_PULL, Cause.IMAGE_PULL),
    (_CONFIG, Cause.CONFIGURATION),
    (_STARTUP, Cause.STARTUP),
)


def _by_reason(f: _Facts) -> Cause | None:
    for pattern, cause in _NAMED_BY_REASON:
        if pattern.search(f.both):
            return cause
    if f.code in ("SpotInterruption", "TerminationNotice") or _SPOT.search(f.task_reason):
        return Cause.SPOT
    if _ELB.search(f.task_reason):
        return Cause.ELB_HEALTH
    if _HEALTH.search(f.task_reason):
        return Cause.CONTAINER_HEALTH
    return None


def _by_stop_code(f: _Facts) -> Cause | None:
    if f.code == "TaskFailedToStart":
        return Cause.STARTUP if f.has_containers else Cause.CAPACITY
    if f.code == "InfrastructureHealth":  # the host failed under the task: not planned, whatever the reason says
        return Cause.HOST_FAILURE
    if _MAINTENANCE.search(f.task_reason) and f.code != "UserInitiated":
        return Cause.MAINTENANCE
    if f.code == "UserInitiated" or _USER.search(f.task_reason):
        return Cause.USER_STOP
    if f.code == "ServiceSchedulerInitiated" or _SCALE_IN.search(f.task_reason):
        if f.exit_code not in (None, 0, 143, 130) and not _SCALE_IN.search(f.task_reason):
            return Cause.APP_EXIT
        return Cause.SCALE_IN
    return _by_exit(f)


def _by_exit(f: _Facts) -> Cause | None:
    """An essential container exited: cleanly, with an error, or without a code (the agent lost it)."""
    if f.code != "EssentialContainerExited" and not f.has_containers:
        return None
    if f.blamed is not None and f.exit_code == 0 and not f.container_reason:
        return Cause.CLEAN_EXIT
    if f.blamed is not None and (f.exit_code not in (None, 0) or f.container_reason):
        return Cause.APP_EXIT
    if f.code == "EssentialContainerExited":
        # The container exited without a code (the agent lost it): a failure we cannot name better.
        return Cause.APP_EXIT
    return None


def should_alert(stop: StopCause, watch: WatchSection) -> bool:
    """Planned and clean stops are not alerts unless the user's file asks for them."""
    if stop.cause is Cause.SCALE_IN:
        return watch.alert_on_scale_in
    if stop.cause is Cause.USER_STOP:
        return watch.alert_on_user_stop
    if stop.cause is Cause.CLEAN_EXIT:
        return watch.alert_on_clean_exit
    return True
