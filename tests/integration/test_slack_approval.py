"""The approval gate in Slack: the request carries Approve / Reject buttons (Block Kit, bot mode); a press comes back
to the approver's function URL signed with the app's signing secret. The real loopback Slack signs the press as
Slack does; the real approver, watcher and deployer handlers answer it; the stack is in moto."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from dockhand_local.slack import LoopbackSlack
from tests.integration.promotion_helpers import DIGEST, REGISTRY, SIGNING_SECRET, slack_bot
from tests.integration.promotion_helpers import SLACK_CHANNEL as CHANNEL


def _waiting(stack: Any, walk: Any, approvers: list[str]) -> Any:
    """A walk whose production asks `approvers` in Slack, 1.1.0 verified in staging and waiting for them."""
    with LoopbackSlack() as slack:
        w = walk(notifications=slack_bot(stack, slack), approval={"approvers": approvers}, bake_minutes=5)
        w.push("1.1.0")
        w.completed("staging")
        w.later(5 * 60)
        yield w, slack


@pytest.fixture
def gated(stack: Any, walk: Any) -> Any:
    """Production waits for U0ALICE."""
    yield from _waiting(stack, walk, ["U0ALICE"])


@pytest.fixture
def group_gated(stack: Any, walk: Any) -> Any:
    """Production waits for a member of the Slack user group S0RELEASERS (U0BOB is one; the group is Slack's)."""
    yield from _waiting(stack, walk, ["S0RELEASERS"])


def request_message(slack: LoopbackSlack) -> dict[str, Any]:
    return next(m for m in slack.messages if m["kind"] == "post" and "waits for approval" in m["text"])


def buttons(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"] if "value" in e]


def test_the_request_has_approve_and_reject_buttons_and_a_signed_press_approves(gated) -> None:
    w, slack = gated
    # Given the approval request in Slack, with its buttons
    message = request_message(slack)
    assert buttons(message) == ["dockhand_approve", "dockhand_reject"]
    # When U0ALICE presses Approve (Slack signs the request)
    headers, body = slack.interaction(CHANNEL, message["ts"], "dockhand_approve", "U0ALICE", SIGNING_SECRET)
    reply = w.approver(headers, body)
    # Then the press is taken, and the promotion is released and deployed
    assert reply["statusCode"] == 200 and "Approved by U0ALICE" in json.loads(reply["body"])["text"]
    w.later(1)
    assert [b["stage"] for b in w.to_deployer()] == ["production"]
    assert w.image("prod") == f"{REGISTRY}/web@{DIGEST}"
    # And the request message is updated in place: promoted, no buttons left
    update = [m for m in slack.messages if m["kind"] == "update" and m["ts"] == message["ts"]]
    assert update and "promoted from staging to production" in update[-1]["text"] and buttons(update[-1]) == []


@pytest.mark.parametrize(
    "forgery",
    ["another secret", "a body changed after signing", "a timestamp 6 minutes old", "no signature"],
)
def test_a_forged_request_changes_nothing(gated, forgery: str) -> None:
    w, slack = gated
    message = request_message(slack)
    # Given a press request that Slack did not sign as it is
    secret = "not-the-secret" if forgery == "another secret" else SIGNING_SECRET
    at = time.time() - 360 if forgery == "a timestamp 6 minutes old" else None
    headers, body = slack.interaction(CHANNEL, message["ts"], "dockhand_approve", "U0ALICE", secret, at=at)
    if forgery == "a body changed after signing":
        body = body.replace("U0ALICE", "U0MALLORY")
    if forgery == "no signature":
        headers.pop("X-Slack-Signature")
    # When it reaches the approver's function URL
    reply = w.approver(headers, body)
    # Then it is refused, the promotion still waits, and nothing is on its way to the watcher or the deployer
    assert reply["statusCode"] == 401
    assert w.promotion().status == "awaiting_approval"
    assert w.later(1) is None
    assert w.to_deployer() == []


def test_a_press_by_someone_not_declared_changes_nothing(gated) -> None:
    w, slack = gated
    message = request_message(slack)
    headers, body = slack.interaction(CHANNEL, message["ts"], "dockhand_reject", "U0MALLORY", SIGNING_SECRET)
    reply = w.approver(headers, body)
    assert reply["statusCode"] == 200
    assert "U0MALLORY is not among the approvers of production" in json.loads(reply["body"])["text"]
    assert w.promotion().status == "awaiting_approval"
    assert w.later(1) is None


def test_a_member_of_a_declared_user_group_approves(group_gated) -> None:
    w, slack = group_gated
    # Given the user group S0RELEASERS in Slack, with U0BOB in it
    slack.usergroups["S0RELEASERS"] = ["U0CAROL", "U0BOB"]
    message = request_message(slack)
    # When U0BOB presses Approve
    headers, body = slack.interaction(CHANNEL, message["ts"], "dockhand_approve", "U0BOB", SIGNING_SECRET)
    reply = w.approver(headers, body)
    # Then the press counts (Slack was asked who is in the group), and production is deployed
    assert reply["statusCode"] == 200 and "Approved by U0BOB" in json.loads(reply["body"])["text"]
    assert "usergroups.users.list" in slack.calls
    w.later(1)
    assert [b["stage"] for b in w.to_deployer()] == ["production"]
    assert w.image("prod") == f"{REGISTRY}/web@{DIGEST}"


@pytest.mark.parametrize("group", [["U0CAROL"], None], ids=["not a member", "group not readable"])
def test_someone_outside_a_declared_user_group_changes_nothing(group_gated, group: list[str] | None) -> None:
    w, slack = group_gated
    # Given S0RELEASERS without U0MALLORY (or a group Slack will not list: no_such_subteam)
    if group is not None:
        slack.usergroups["S0RELEASERS"] = group
    message = request_message(slack)
    # When U0MALLORY presses Approve
    headers, body = slack.interaction(CHANNEL, message["ts"], "dockhand_approve", "U0MALLORY", SIGNING_SECRET)
    reply = w.approver(headers, body)
    # Then the press is refused as not declared, and production still waits
    assert "U0MALLORY is not among the approvers of production" in json.loads(reply["body"])["text"]
    assert w.promotion().status == "awaiting_approval"
    assert w.later(1) is None
