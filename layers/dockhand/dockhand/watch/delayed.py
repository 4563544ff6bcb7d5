"""The watcher's own follow-up messages: a crash-loop window to close, a restart to launch. Sent to its queue with
an SQS delay (no Lambda ever sleeps); a wait longer than one SQS delay (15 min) is a chain of delays."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

from dockhand.aws.clients import reraise_retryable
from dockhand.aws.protocols import SqsClient

MAX_DELAY = 900  # SQS DelaySeconds ceiling


class WatchAction(BaseModel):
    """`{"dockhand": "watch", "action": "close_window" | "restart", …}`: one delayed follow-up."""

    dockhand: Literal["watch"]
    action: Literal["close_window", "restart"]
    cluster: str = ""
    group: str = ""
    cause: str = ""
    opened_at: int = Field(0, description="A crash-loop window's name: the stoppedAt of the stop that opened it")
    closes_at: int = 0
    round: int = Field(1, ge=1, description="A window's closing round: 1 is its summary, later ones follow-ups")
    chain: str = ""
    attempt: int = 0
    not_before: int = Field(0, description="Set when the wait exceeds one SQS delay (15 min): re-delay until then")

    @staticmethod
    def matches(body: dict[str, Any]) -> bool:
        return body.get("dockhand") == "watch"


class DelayedMessages:
    """Sends the watcher's own follow-up messages to its queue, delayed."""

    def __init__(self, sqs_client: SqsClient, queue_url: str) -> None:
        self._sqs = sqs_client
        self._url = queue_url

    def send(self, body: dict[str, Any], delay_seconds: int) -> None:
        try:
            self._sqs.send_message(
                QueueUrl=self._url,
                MessageBody=json.dumps(body),
                DelaySeconds=max(0, min(MAX_DELAY, int(delay_seconds))),
            )
        except Exception as exc:
            reraise_retryable(exc, "sqs:SendMessage")
            raise


def wait_more(action: WatchAction, delayed: DelayedMessages | None, clock: Callable[[], float]) -> bool:
    """Send the message on when it is not due yet (`not_before`); True when it was sent on.

    Shorter waits trust the queue's delay: the message arriving is the moment it is due.
    """
    now = int(clock())
    if action.not_before and now < action.not_before and delayed is not None:
        delayed.send(action.model_dump(), action.not_before - now)
        return True
    return False
