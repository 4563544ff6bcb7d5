"""The Notifier: routes a Notification to its channels; one channel failing never stops the others.

A failed delivery is reported back (`NotifyResult.failed`); `notify.delivery` turns it into a retry of the
message that caused it (only the failed channels are tried again), then the queue's DLQ: never dropped silently.
A channel that can be asked whether it already delivered a notification (`find`) is asked before it is sent on
again; one that cannot is taken at its word (`look_up` answers an assumed delivery).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from dockhand.config import NotificationsSection, Route
from dockhand.errors import RetryableError
from dockhand.notify.model import Delivery, Notification
from dockhand.observability import logger


class Channel(Protocol):
    name: str

    def send(self, n: Notification) -> Delivery: ...


@runtime_checkable
class Findable(Protocol):
    """A channel that can look for what it delivered under `n.key` since `since` (epoch seconds): the delivery
    found, None when there is none, or an assumed delivery when it cannot be asked after all."""

    def find(self, n: Notification, since: float) -> Delivery | None: ...


class LookupFailed(RetryableError):
    """A channel could not be asked whether it delivered a notification (an outage): try again later."""


class NotifierLike(Protocol):
    """What a wing needs of the notifier: the channels a notification goes to, and sending on some of them."""

    @property
    def channel_names(self) -> list[str]: ...

    def channels_for(self, n: Notification) -> list[str]: ...

    def notify(self, n: Notification, only: Sequence[str] | None = None) -> NotifyResult: ...

    def look_up(self, channel: str, n: Notification, since: float) -> Delivery | None: ...


class NotifyResult:
    def __init__(self, deliveries: list[Delivery]) -> None:
        self.deliveries = deliveries

    @property
    def failed(self) -> list[Delivery]:
        return [d for d in self.deliveries if not d.ok]

    def ref(self, channel: str) -> str | None:
        return next((d.ref for d in self.deliveries if d.channel == channel and d.ok), None)


def _matches(route: Route, n: Notification) -> bool:
    checks = (
        (route.kinds, n.kind),
        (route.severities, n.severity),
        (route.clusters, n.cluster),
        (route.services, n.service),
        (route.jobs, n.job),
    )
    return all(allowed is None or value in allowed for allowed, value in checks)


def route_channels(section: NotificationsSection, n: Notification, available: Sequence[str]) -> list[str]:
    """Channels for `n`: the first matching route's, else every available channel."""
    for route in section.routes:
        if _matches(route, n):
            return [c for c in route.channels if c in available]
    return list(available)


class Notifier:
    def __init__(self, channels: Sequence[Channel], section: NotificationsSection | None = None) -> None:
        self._channels = {c.name: c for c in channels}
        self._section = section or NotificationsSection()

    @property
    def channel_names(self) -> list[str]:
        return list(self._channels)

    def channels_for(self, n: Notification) -> list[str]:
        """The channels `n` is routed to."""
        return route_channels(self._section, n, list(self._channels))

    def notify(self, n: Notification, only: Sequence[str] | None = None) -> NotifyResult:
        names = self.channels_for(n)
        if only is not None:
            names = [c for c in names if c in only]
        deliveries: list[Delivery] = []
        for name in names:
            try:
                delivery = self._channels[name].send(n)
            except Exception as exc:  # one channel must never stop the others
                logger.warning(
                    "notification channel failed", extra={"channel": name, "kind": n.kind, "error": type(exc).__name__}
                )
                delivery = Delivery(channel=name, ok=False, error=f"{type(exc).__name__}: {exc}"[:300])
            deliveries.append(delivery)
        return NotifyResult(deliveries)

    def look_up(self, channel: str, n: Notification, since: float) -> Delivery | None:
        """What `channel` delivered of `n` since `since`: found, None (send it), or assumed (it cannot be asked).
        LookupFailed when the channel could not be asked right now."""
        ch = self._channels[channel]
        if not isinstance(ch, Findable):
            return Delivery(channel=channel, ok=True, assumed=True)
        try:
            return ch.find(n, since)
        except Exception as exc:
            logger.warning("notification lookup failed", extra={"channel": channel, "error": type(exc).__name__})
            raise LookupFailed(f"{channel}: cannot tell whether {n.key} was delivered ({type(exc).__name__})") from exc
