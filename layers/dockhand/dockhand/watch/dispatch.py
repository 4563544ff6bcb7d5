"""The watcher's one entry point: an SQS message body is an ECS event from EventBridge, or one of the watcher's
own delayed messages; each goes to the flow named after it.

Every flow is safe to run again for the same message: a task's stop, a restart attempt, a deployment's outcome and
a crash-loop window's closing round are each a claim (`state/claims.py`) whose steps are recorded as they are done,
so a redelivery resumes at the first step not done; each notification remembers which channels delivered it (a
failed channel makes the message fail, so SQS retries it and then parks it in the DLQ).
"""

from __future__ import annotations

from typing import Any

from dockhand.errors import BadInputError
from dockhand.events import DeploymentStateChange, Envelope, ServiceAction, TaskStateChange
from dockhand.watch.context import Watch
from dockhand.watch.crash_loops import close_window
from dockhand.watch.delayed import WatchAction
from dockhand.watch.deployments import handle_deployment
from dockhand.watch.restarts import launch_restart
from dockhand.watch.service_events import handle_service_action
from dockhand.watch.task_stops import handle_task_stop


def handle_message(body: dict[str, Any], watch: Watch) -> str:
    """Route one message; returns what happened (for logs and tests)."""
    if WatchAction.matches(body):
        action = WatchAction.model_validate(body)
        if action.action == "close_window":
            return close_window(action, watch)
        return launch_restart(action, watch)
    envelope = Envelope.model_validate(body)
    if envelope.detail_type == "ECS Task State Change":
        return handle_task_stop(TaskStateChange.model_validate(body), watch)
    if envelope.detail_type == "ECS Deployment State Change":
        return handle_deployment(DeploymentStateChange.model_validate(body), watch)
    if envelope.detail_type == "ECS Service Action":
        return handle_service_action(ServiceAction.model_validate(body), watch)
    raise BadInputError(f"the watcher does not handle {envelope.detail_type!r} events", reason="unexpected_event")
