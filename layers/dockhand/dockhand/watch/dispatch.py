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
    """Validate one message body and route it; returns what happened (for logs and tests). The handler validates
    at its edge and calls `route` with what it read: a body is validated once."""
    if WatchAction.matches(body):
        return route(WatchAction.model_validate(body), watch)
    envelope = Envelope.model_validate(body)
    for model in (TaskStateChange, DeploymentStateChange, ServiceAction):
        if envelope.detail_type == model.DETAIL_TYPE:
            return route(model.model_validate(body), watch)
    return route(envelope, watch)


def route(message: Envelope | WatchAction, watch: Watch) -> str:
    """One validated message to the flow named after it; returns what happened."""
    if isinstance(message, WatchAction):
        if message.action == "close_window":
            return close_window(message, watch)
        return launch_restart(message, watch)
    if isinstance(message, TaskStateChange):
        return handle_task_stop(message, watch)
    if isinstance(message, DeploymentStateChange):
        return handle_deployment(message, watch)
    if isinstance(message, ServiceAction):
        return handle_service_action(message, watch)
    raise BadInputError(f"the watcher does not handle {message.detail_type!r} events", reason="unexpected_event")
