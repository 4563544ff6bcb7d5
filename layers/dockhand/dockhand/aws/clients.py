"""One way to build boto3 clients: standard retries, bounded timeouts, and the endpoint from AWS_ENDPOINT_URL.

Every client and resource comes from one boto3 session (a second session reads botocore's endpoint data again:
tens of milliseconds of a cold start). They are created lazily and cached per (service, region); a `LazyClient`
stands for one until its first use; `reset()` drops them (tests, the local runtime).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache, lru_cache, partial
from typing import Any

from dockhand.errors import RetryableError

# Every AWS service Dockhand's functions call (their own clients, and Powertools Parameters' for the Slack credential).
# The layer build keeps botocore's data for these alone (layers/dockhand/build_layer.py), so a client of any other
# service could not be made on Lambda: `deps.client()` refuses it, where the tests see it.
SERVICES = frozenset(
    {"cloudwatch", "dynamodb", "ecr", "ecs", "scheduler", "secretsmanager", "sns", "sqs", "ssm", "sts"}
)

# Error codes that a later attempt may get past: the message goes back to its queue.
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServerException",
        "InternalServerError",
        "InternalFailure",
        "ProvisionedThroughputExceededException",
        "RequestTimeout",
        "RequestTimeoutException",
        "LimitExceededException",
    }
)

_lock = threading.Lock()


@cache
def _session() -> Any:
    import boto3

    return boto3.session.Session()


def boto_config() -> Any:
    """Standard retries (5 attempts in all), bounded timeouts: one setting for every client and resource."""
    from botocore.config import Config

    return Config(retries={"mode": "standard", "total_max_attempts": 5}, connect_timeout=5, read_timeout=20)


@cache
def client(service: str, region: str | None = None) -> Any:
    with _lock:  # boto3 session client creation is not thread safe
        return _session().client(service, region_name=region, config=boto_config())


@cache
def resource(service: str) -> Any:
    """A boto3 resource from the same session as the clients."""
    with _lock:
        return _session().resource(service, config=boto_config())


class LazyClient:
    """Stands for `client(service)` and makes it on first use: a handler wires every collaborator a record might
    need, and a record pays only for the clients it calls."""

    __slots__ = ("_region", "_service")

    def __init__(self, service: str, region: str | None = None) -> None:
        self._service = service
        self._region = region

    def __getattr__(self, name: str) -> Any:
        return getattr(client(self._service, self._region), name)

    def __repr__(self) -> str:
        return f"LazyClient({self._service!r})"


@dataclass(frozen=True)
class AssumedRole:
    """A role of another account, the external id its trust policy asks for, and the session name that says why
    it is assumed (CloudTrail in that account shows it)."""

    arn: str
    external_id: str
    session_name: str


@lru_cache(maxsize=32)
def _assumed_session(role: AssumedRole) -> Any:
    """A boto3 session whose credentials are the role's: botocore assumes it on first use and again before they
    expire. It shares the data loader of our session (botocore's endpoint and model data are read once)."""
    import boto3
    import botocore.session
    from botocore.credentials import (
        AssumeRoleCredentialFetcher,
        CredentialProvider,
        CredentialResolver,
        DeferredRefreshableCredentials,
    )

    class Given(CredentialProvider):  # hands over the role's credentials (a botocore class: defined on first use)
        METHOD = "dockhand-assume-role"
        CANONICAL_NAME = "custom-dockhand-assume-role"

        def load(self) -> Any:
            return credentials

    base = _session()._session
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=partial(base.create_client, config=boto_config()),
        source_credentials=base.get_credentials(),
        role_arn=role.arn,
        extra_args={"ExternalId": role.external_id, "RoleSessionName": role.session_name},
    )
    credentials = DeferredRefreshableCredentials(method="assume-role", refresh_using=fetcher.fetch_credentials)
    core = botocore.session.Session()
    core.register_component("data_loader", base.get_component("data_loader"))
    core.register_component("credential_provider", CredentialResolver([Given()]))
    return boto3.session.Session(botocore_session=core)


@lru_cache(maxsize=128)
def assumed_client(service: str, region: str, role: AssumedRole) -> Any:
    """A client of `service` in `region` of the role's account. The role is assumed now (not at the first call),
    so that a role that cannot be assumed is known before any work starts there."""
    session = _assumed_session(role)
    with _lock:
        made = session.client(service, region_name=region, config=boto_config())
    session.get_credentials().get_frozen_credentials()
    return made


def reset() -> None:
    client.cache_clear()
    assumed_client.cache_clear()
    _assumed_session.cache_clear()
    resource.cache_clear()
    _session.cache_clear()


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def is_retryable(exc: BaseException) -> bool:
    """True for throttling, 5xx and connection trouble; False for validation / not-found / access errors."""
    from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

    if isinstance(exc, (ConnectionError, ReadTimeoutError)):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error_code(exc) in RETRYABLE_CODES or status >= 500
    return False


def reraise_retryable(exc: BaseException, what: str) -> None:
    """Turn a retryable botocore error into RetryableError; leave others to the caller."""
    if is_retryable(exc):
        raise RetryableError(f"{what}: {error_code(exc) or type(exc).__name__}") from exc
