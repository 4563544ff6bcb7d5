"""The watcher's own follow-up messages: a crash-loop window to close, a restart to launch. Sent to its queue with
an SQS delay (no Lambda ever sleeps); a wait longer than one SQS delay (15 min) is a chain of delays."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from dockhand.aws.clients import reraise_retryable
from dockhand.aws.protocols import SqsClient
from dockhand.events import WatchAction

MAX_DELAY = 900  # SQS DelaySeconds ceiling


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
