"""Builds the real collaborators lazily, once per Lambda container; `reset()` forgets them (tests, local runtime).

Service functions never call these: handlers do, and pass what they get as arguments.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from dockhand.aws import clients
from dockhand.config import DockhandConfig, cached_config
from dockhand.notify.notifier import Channel, Notifier
from dockhand.settings import settings
from dockhand.state.table import Table


def config() -> DockhandConfig:
    return cached_config(settings().config_path)


@lru_cache(maxsize=1)
def table() -> Table:
    import boto3

    return Table(boto3.resource("dynamodb", config=clients.boto_config()), settings().table_name)


def client(service: str) -> Any:
    return clients.client(service)


@lru_cache(maxsize=1)
def notifier() -> Notifier:
    from dockhand.notify.sns import SnsChannel

    cfg = config()
    channels: list[Channel] = []
    if cfg.notifications.sns and settings().topic_arn:
        channels.append(SnsChannel(clients.client("sns"), settings().topic_arn or ""))
    if cfg.notifications.slack is not None:
        # Imported only when the user's file has Slack: the SDK stays off the cold path otherwise.
        from dockhand.notify.slack import channel_factory

        slack = channel_factory(cfg, settings(), table())
        if slack is not None:
            channels.append(slack)
    return Notifier(channels, cfg.notifications)


def reset() -> None:
    """Forget every cached collaborator and setting (between tests, or when the local runtime restarts)."""
    settings.cache_clear()
    cached_config.cache_clear()
    table.cache_clear()
    notifier.cache_clear()
    clients.reset()
