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
    """One batch-queue message: a schedule payload, or the STOPPED event of a job's task."""
    if body.get("detail-type") == "ECS Task State Change":
        return handle_stopped(TaskStateChange.model_validate(body), ctx)
    if body.get("dockhand") == "job":
        payload = SchedulePayload.model_validate(body)
        if payload.action == "deadline":
            return handle_deadline(payload, ctx)
        return handle_launch(payload, ctx)
    raise BadInputError("neither a Dockhand schedule payload nor an ECS Task State Change", reason="unknown_message")
