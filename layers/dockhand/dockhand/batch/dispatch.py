"""The batch queue's one entry point: a schedule payload (launch, run now, deadline) or the STOPPED event of a
job's task; each goes to the flow named after it."""

from __future__ import annotations

from typing import Any

from dockhand.batch.completion import handle_stopped
from dockhand.batch.context import BatchContext
from dockhand.batch.deadline import handle_deadline
from dockhand.batch.launch import handle_launch
from dockhand.errors import BadInputError
from dockhand.events import SchedulePayload, TaskStateChange


def handle_message(body: dict[str, Any], ctx: BatchContext) -> str:
    """Validate one batch-queue message body and route it. The handler validates at its edge and calls `route` with
    what it read: a body is validated once."""
    if body.get("detail-type") == "ECS Task State Change":
        return route(TaskStateChange.model_validate(body), ctx)
    if body.get("dockhand") == "job":
        return route(SchedulePayload.model_validate(body), ctx)
    raise BadInputError("neither a Dockhand schedule payload nor an ECS Task State Change", reason="unknown_message")


def route(message: TaskStateChange | SchedulePayload, ctx: BatchContext) -> str:
    """One validated message: the STOPPED event of a job's task, or a schedule payload (launch, run now, deadline)."""
    if isinstance(message, TaskStateChange):
        return handle_stopped(message, ctx)
    if message.action == "deadline":
        return handle_deadline(message, ctx)
    return handle_launch(message, ctx)
