"""Typed errors. Retryable ones make the queue retry the message; the rest are bad input, logged and counted once."""

from __future__ import annotations


class DockhandError(Exception):
    """Base of every error Dockhand raises on purpose."""


class RetryableError(DockhandError):
    """A transient AWS or network failure: raise it and let SQS redeliver (then the DLQ)."""


class BadInputError(DockhandError):
    """Input that can never succeed (malformed event, unknown target, bad declaration). Never retried."""

    def __init__(self, message: str, *, reason: str = "bad_input", **context: object) -> None:
        super().__init__(message)
        self.reason = reason
        self.context = context


class InvalidEvent(BadInputError):
    """A message that breaks its contract (`dockhand.events`), decided at the edge before any AWS call.

    Only the edge raises it: a pydantic ValidationError later, inside a flow, is a bug of ours and is retried.
    """


class ConfigError(BadInputError):
    """The user's declaration file is invalid: the message names file, field, given value and expectation."""


class AccountUnreachable(BadInputError):
    """The role declared for another account cannot be assumed (no such role, a trust policy that does not name
    Dockhand, a wrong external id): nothing is done there until the declaration or the role is fixed."""

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message, reason="account_unreachable", **context)
