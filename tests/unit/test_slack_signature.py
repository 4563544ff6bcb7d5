"""The approver believes only what Slack signed: any request not signed with the signing secret, or signed more than
5 minutes ago, is refused before any state is read (property-based: arbitrary bodies, timestamps, signatures)."""

from __future__ import annotations

import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from dockhand.config import parse_config
from dockhand.promote.context import Promoter
from dockhand.promote.slack_answers import answer_interaction

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_800_000_000.0


class Untouchable:
    """A state table that fails the test when anything reads or writes it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the table was touched ({name}) by a request that is not Slack's")


def promoter() -> Promoter:
    return Promoter(config=parse_config({}), table=Untouchable(), notifier=None, queues=None)  # type: ignore[arg-type]


def signed(body: str, at: float, secret: str = SECRET) -> dict[str, str]:
    timestamp = str(int(at))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body) or ""
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


@settings(max_examples=200, deadline=None)
@given(body=st.text(max_size=300), timestamp=st.text(max_size=20), signature=st.text(max_size=80))
def test_an_unsigned_request_is_refused_before_any_state_is_read(body: str, timestamp: str, signature: str) -> None:
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
    reply = answer_interaction(body, headers, SECRET, promoter(), clock=lambda: NOW)
    assert reply.status == 401


@settings(max_examples=100, deadline=None)
@given(body=st.text(max_size=300), age=st.integers(min_value=301, max_value=10**6))
def test_a_request_signed_over_five_minutes_ago_or_with_another_secret_is_refused(body: str, age: int) -> None:
    stale = answer_interaction(body, signed(body, NOW - age), SECRET, promoter(), clock=lambda: NOW)
    other = answer_interaction(body, signed(body, NOW, "another-secret"), SECRET, promoter(), clock=lambda: NOW)
    assert (stale.status, other.status) == (401, 401)


def test_without_a_signing_secret_nothing_is_believed() -> None:
    body = "payload=%7B%7D"
    assert answer_interaction(body, signed(body, time.time(), "any-secret"), "", promoter()).status == 401


def test_a_signed_request_that_is_no_dockhand_button_is_refused_without_reading_state() -> None:
    body = "payload=%7B%22type%22%3A%22view_submission%22%7D"
    assert answer_interaction(body, signed(body, NOW), SECRET, promoter(), clock=lambda: NOW).status == 400


@settings(max_examples=300, deadline=None)
@given(
    body=st.text(max_size=200),
    age=st.integers(min_value=-400, max_value=400),
    secret=st.sampled_from([SECRET, "another-secret"]),
    tamper=st.booleans(),
)
def test_the_signature_check_answers_as_slack_sdks_verifier(body: str, age: int, secret: str, tamper: bool) -> None:
    # Given a request signed (with the right or another secret) some seconds from now, its body maybe changed after
    from dockhand.promote.slack_answers import _signed

    class Clock:
        def now(self) -> float:
            return NOW

    headers = signed(body, NOW + age, secret)
    sent = body + "x" if tamper else body
    timestamp, signature = headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    # When both check it / Then they agree
    expected = SignatureVerifier(SECRET, clock=Clock()).is_valid(sent, timestamp, signature)  # type: ignore[arg-type]
    assert _signed(SECRET, timestamp, sent, signature, NOW) == expected
