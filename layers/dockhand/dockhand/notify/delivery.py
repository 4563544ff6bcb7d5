"""Delivering a notification once per channel, across redeliveries of the message that caused it.

Every notification carries a key named after what caused it (a task event's ARN and version, a job run's attempt
and outcome, a push and its service). Its delivery is a claim under that key (`state/deliveries.py`), one step
per channel, so that no channel delivers it twice and none is forgotten:

1. The channels that delivered it already are skipped; once all routed channels did, the claim is done.
2. A channel an earlier attempt began to send on but never recorded (the write after the send failed, or the
   Lambda died) is looked up: Slack in bot mode finds its message by the key in the message metadata; a channel
   that cannot be asked (SNS, a webhook) is taken as delivered, since the send was begun and no failure came back.
3. The rest are marked as being sent (one conditional write: if another delivery marked one a moment ago, this
   one stops with ClaimBusy and is retried), sent, and what each answered is recorded in one write; a channel
   that failed loses its mark, so the next attempt sends on it again. A notification's first delivery marks its
   channels in the write that creates its claim (nothing was delivered before it, so there is nothing to look up).

A channel that fails makes the message fail (NotDelivered, retryable: SQS redelivers it, then parks it in the
DLQ). Nothing is dropped silently and nothing is sent twice on a channel that delivered it.
"""

from __future__ import annotations

import time
from typing import Any

from dockhand.errors import RetryableError
from dockhand.notify.model import Delivery, Notification
from dockhand.notify.notifier import NotifierLike
from dockhand.observability import count, logger
from dockhand.state.claims import Claim, ClaimBusy
from dockhand.state.deliveries import SENDING, Deliveries


class NotDelivered(RetryableError):
    """A notification failed on at least one channel; the message that caused it must be retried."""


def deliver(notifier: NotifierLike, deliveries: Deliveries | None, key: str, n: Notification) -> list[str]:
    """Send `n` on every routed channel that has not delivered it under `key` yet; return the channels that failed
    (each one logged and counted). Without `deliveries` (a dry run) nothing is remembered and every routed
    channel is tried."""
    n = n.model_copy(update={"key": key})
    routed = notifier.channels_for(n)
    if not routed:
        return []
    if deliveries is None:
        return _counted(n, notifier.notify(n, only=routed).deliveries)
    claim = deliveries.open(key, sending=routed)
    if claim.done:
        return []
    if claim.state == "new":  # opened with every routed channel marked as being sent
        refs: dict[str, Any] = {}
        pending = routed
    else:
        refs = _delivered_before(notifier, claim, n, routed)
        pending = [c for c in routed if c not in refs]
        fresh = {SENDING + c: int(time.time()) for c in pending if SENDING + c not in claim.steps}
        if pending and not claim.take(fresh):
            raise ClaimBusy(f"notification {key} is being sent by another delivery")
    sent: list[Delivery] = []
    if pending:
        sent = notifier.notify(n, only=pending).deliveries
        refs |= {d.channel: d.ref for d in sent if d.ok}
    failed = _counted(n, sent)
    if failed:
        claim.record_steps(refs, forget=[SENDING + c for c in failed])
    else:
        claim.finish({c: refs.get(c) for c in routed})
    return failed


def _delivered_before(notifier: NotifierLike, claim: Claim, n: Notification, routed: list[str]) -> dict[str, Any]:
    """The routed channels that delivered `n` already (recorded, or found after an attempt that began to send on
    them and never recorded what came back), with what each answered."""
    refs: dict[str, Any] = {c: claim.get(c) for c in routed if c in claim.steps}
    for channel in routed:
        began = claim.get(SENDING + channel)
        if channel in refs or began is None:
            continue
        found = notifier.look_up(channel, n, since=float(began))
        if found is not None:
            how = "assumed delivered (the channel cannot be asked)" if found.assumed else "found delivered"
            logger.info(f"notification {how}", extra={"kind": n.kind, "key": n.key, "channel": channel})
            count("NotificationFound", channel=channel, assumed=str(found.assumed).lower())
            refs[channel] = found.ref
    return refs


def deliver_or_retry(notifier: NotifierLike, deliveries: Deliveries | None, key: str, n: Notification) -> None:
    """`deliver`, and raise NotDelivered (the message is retried) when a channel failed."""
    failed = deliver(notifier, deliveries, key, n)
    if failed:
        raise NotDelivered(f"notification {n.kind} not delivered on: {', '.join(failed)}")


def _counted(n: Notification, deliveries: list[Delivery]) -> list[str]:
    """Count what was sent and what failed; the failed channels, sorted (each one logged)."""
    failures = [d for d in deliveries if not d.ok]
    for d in deliveries:
        if d.ok:
            count("NotificationSent", kind=n.kind, channel=d.channel)
    for d in failures:
        count("NotificationFailed", channel=d.channel)
    if failures:
        logger.warning(
            "notification not delivered; the message will be retried",
            extra={"kind": n.kind, "key": n.key, "channels": [d.channel for d in failures]}
            | {"errors": [d.error for d in failures]},
        )
    return sorted(d.channel for d in failures)
