"""Retrying a notification apart from the message that caused it.

A push is deployed in the deploy queue's one FIFO group: a record failed there holds back every later push. So a
notification a channel failed to deliver after the deploy itself is done goes back on the deploy queue as its own
message, in its own group: the push record succeeds at once, the retry is redelivered by SQS (delivered channels
are skipped: `notify/delivery.py`) and lands in the queue's DLQ after its last receive.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from dockhand.aws.protocols import SqsClient
from dockhand.events import Key
from dockhand.notify.model import Notification
from dockhand.observability import count, logger

GROUP = "notify"


class NotificationRetry(BaseModel):
    """The message body: `{"dockhand": "notify", "key": ..., "notification": {...}}`."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    dockhand: Literal["notify"] = "notify"
    key: Key  # becomes the DynamoDB key of its delivery record
    notification: Notification

    @staticmethod
    def matches(body: dict[str, Any]) -> bool:
        return body.get("dockhand") == "notify"


class RetryQueue:
    """Sends notification retries to a FIFO queue in the `notify` group, one message per notification key."""

    def __init__(self, sqs_client: SqsClient, queue_url: str) -> None:
        self._sqs = sqs_client
        self._url = queue_url

    def __call__(self, key: str, notification: Notification) -> None:
        body = NotificationRetry(key=key, notification=notification).model_dump_json()
        # Deduplication ids are at most 128 characters: the key (which carries ARNs) is hashed.
        dedup = hashlib.sha256(key.encode()).hexdigest()
        self._sqs.send_message(QueueUrl=self._url, MessageBody=body, MessageGroupId=GROUP, MessageDeduplicationId=dedup)
        logger.info("notification retry queued", extra={"kind": notification.kind, "key": key})
        count("NotificationRetryQueued", kind=notification.kind)
