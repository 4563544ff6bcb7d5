"""Delivering a notification once per channel, across redeliveries of the message that caused it.

Every notification carries a key named after what caused it (a task event's ARN and version, a job run's attempt
and outcome, a push and its service). The channels that delivered it are remembered under that key
(`state/deliveries.py`): a redelivered message sends only on the channels that have not delivered it yet, and a
channel that fails makes the message fail (RetryableError: SQS redelivers it, then parks it in the DLQ). Nothing
is dropped silently and nothing is sent twice on a channel that already delivered it.
"""

from __future__ import annotations

from dockhand.errors import RetryableError
from dockhand.notify.model import Notification
from dockhand.notify.notifier import NotifierLike
from dockhand.observability import count, logger
from dockhand.state.deliveries import Deliveries


class NotDelivered(RetryableError):
    """A notification failed on at least one channel; the message that caused it must be retried."""


def deliver(notifier: NotifierLike, deliveries: Deliveries | None, key: str, n: Notification) -> list[str]:
    """Send `n` on every routed channel that has not delivered it under `key` yet; return the channels that failed
    (each one logged and counted). Without `deliveries`, nothing is remembered and every routed channel is tried."""
    done = deliveries.delivered(key) if deliveries is not None else set()
    pending = [c for c in notifier.channel_names if c not in done]
    if not pending:
        return []
    result = notifier.notify(n, only=pending)
    delivered = {d.channel for d in result.deliveries if d.ok}
    if deliveries is not None:
        deliveries.mark(key, delivered)
    for channel in delivered:
        count("NotificationSent", kind=n.kind, channel=channel)
    for d in result.failed:
        count("NotificationFailed", channel=d.channel)
    failed = sorted(d.channel for d in result.failed)
    if failed:
        logger.warning(
            "notification not delivered; the message will be retried",
            extra={"kind": n.kind, "key": key, "channels": failed, "errors": [d.error for d in result.failed]},
        )
    return failed


def deliver_or_retry(notifier: NotifierLike, deliveries: Deliveries | None, key: str, n: Notification) -> None:
    """`deliver`, and raise NotDelivered (the message is retried) when a channel failed."""
    failed = deliver(notifier, deliveries, key, n)
    if failed:
        raise NotDelivered(f"notification {n.kind} not delivered on: {', '.join(failed)}")
