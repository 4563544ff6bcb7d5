"""Builds the real collaborators lazily, once per Lambda container; `reset()` forgets them (tests, local runtime).

Service functions never call these: handlers do, and pass what they get as arguments. Everything AWS comes from
one boto3 session, and a client is made when it is first called, not when it is wired.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from dockhand.aws import clients
from dockhand.config import DockhandConfig, cached_config
from dockhand.notify.notifier import Channel, Notifier
from dockhand.settings import settings
from dockhand.state.table import Table

if TYPE_CHECKING:
    from dockhand.aws.ecs import Ecs
    from dockhand.aws.places import Places

# Powertools Parameters' default provider per Slack secret source, and the service its client calls.
_PARAMETER_PROVIDERS = {"secretsmanager": ("secrets", "SecretsProvider"), "ssm": ("ssm", "SSMProvider")}


def config() -> DockhandConfig:
    return cached_config(settings().config_path)


@lru_cache(maxsize=1)
def table() -> Table:
    return Table(clients.resource("dynamodb"), settings().table_name)


def client(service: str) -> Any:
    """A client of one of the services the layer ships models for, made on its first call."""
    if service not in clients.SERVICES:
        raise ValueError(f"{service!r} is not among the services the layer ships models for (clients.SERVICES)")
    return clients.LazyClient(service)


def places(ecs_here: Ecs) -> Places:
    """Where the declared accounts' work goes (`aws.places.Places`), with `ecs_here` for Dockhand's own."""
    from dockhand.aws.places import Places

    return Places(config().accounts, settings().region, ecs_here)


@lru_cache(maxsize=1)
def notifier() -> Notifier:
    from dockhand.notify.sns import SnsChannel

    cfg = config()
    channels: list[Channel] = []
    if cfg.notifications.sns and settings().topic_arn:
        channels.append(SnsChannel(client("sns"), settings().topic_arn or ""))
    if cfg.notifications.slack is not None:
        # Imported only when the user's file has Slack: the channel stays off the cold path otherwise.
        from dockhand.notify.slack import channel_factory

        slack = channel_factory(cfg, settings(), table(), credentials=_slack_credentials)
        if slack is not None:
            channels.append(slack)
    return Notifier(channels, cfg.notifications)


def _slack_credentials(source: str, name: str) -> dict[str, str]:
    """The Slack credential, read through Powertools Parameters on a client of ours. Both are made at the first
    read, not when the channel is wired: a record that notifies nobody pays for neither."""
    from dockhand.notify.slack import load_credentials

    _parameters_from_our_session(source)
    return load_credentials(source, name)


def _parameters_from_our_session(source: str) -> None:
    """Powertools Parameters (which reads the Slack credential) would make a boto3 session of its own, and read
    botocore's endpoint data again: its default provider for `source` gets a client of ours instead, once (the
    provider holds the cache that spares a read per record)."""
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS

    service = "ssm" if source == "ssm" else "secretsmanager"
    key, provider = _PARAMETER_PROVIDERS[service]
    if key not in DEFAULT_PROVIDERS:
        DEFAULT_PROVIDERS[key] = getattr(parameters, provider)(boto3_client=clients.client(service))


def reset() -> None:
    """Forget every cached collaborator and setting (between tests, or when the local runtime restarts)."""
    settings.cache_clear()
    cached_config.cache_clear()
    table.cache_clear()
    notifier.cache_clear()
    clients.reset()
    if "aws_lambda_powertools.utilities.parameters.base" in sys.modules:  # providers holding clients of ours
        from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS

        for key, _ in _PARAMETER_PROVIDERS.values():
            DEFAULT_PROVIDERS.pop(key, None)
