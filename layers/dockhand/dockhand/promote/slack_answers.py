"""A person presses Approve or Reject in Slack: Slack POSTs the interaction to the approver's function URL.

The request is believed only when it is signed with the app's signing secret (Slack's v0 scheme: HMAC-SHA256 of
`v0:{timestamp}:{body}`, compared in constant time, the timestamp within 5 minutes of now — what slack_sdk's
SignatureVerifier checks, written with hmac here because the layer does not ship slack_sdk); anything else is
refused before any state is read, so a forged request changes nothing. A signed press is the Slack user's answer
(`approvals.decide`): only a declared approver's counts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dockhand.observability import count, logger
from dockhand.promote.approvals import Decision, decide, stage_approval
from dockhand.promote.context import Promoter
from dockhand.promote.notes import APPROVE, REJECT
from dockhand.state.promotions import PromotionRecord

ACTIONS: dict[str, Decision] = {APPROVE: "approve", REJECT: "reject"}
SIGNATURE_MAX_AGE = 300  # seconds: Slack's replay window


@dataclass(frozen=True)
class Reply:
    status: int
    text: str


# (user id, declared group ids) -> the declared groups the user is a member of
GroupsOf = Callable[[str, tuple[str, ...]], tuple[str, ...]]


def answer_interaction(
    body: str,
    headers: dict[str, str],
    signing_secret: str,
    p: Promoter,
    clock: Callable[[], float] = time.time,
    groups_of: GroupsOf | None = None,
) -> Reply:
    """Check the request's signature, then take the press as its user's answer (a member of a declared Slack user
    group counts as declared: `groups_of` asks Slack who is in it)."""
    lower = {k.lower(): v for k, v in headers.items()}
    timestamp, signature = lower.get("x-slack-request-timestamp", ""), lower.get("x-slack-signature", "")
    signed = bool(signing_secret) and timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12
    if signed:
        signed = _signed(signing_secret, timestamp, body, signature, clock())
    if not signed:
        count("SlackRequestRefused", reason="signature")
        logger.warning("Slack request refused: bad or stale signature")
        return Reply(401, "invalid signature")
    press = _press(body)
    if press is None:
        count("SlackRequestRefused", reason="not_a_gate_button")
        return Reply(400, "not a Dockhand approval button")
    decision, key, user = press
    repository, digest, stage = PromotionRecord.split_key(key)
    answer = decide(p, repository, digest, stage, decision, user, _groups(p, repository, stage, user, groups_of))
    logger.info("Slack answer", extra={"promotion": key, "user": user, "decision": decision, "taken": answer.ok})
    return Reply(200, answer.text)


def _groups(p: Promoter, repository: str, stage: str, user: str, groups_of: GroupsOf | None) -> tuple[str, ...]:
    """The declared user groups (`S…`) of the stage's approval that `user` is in; asked only when the user is not
    declared by id. Slack unreachable or refusing (scope usergroups:read missing): none, and the log says why."""
    approval = stage_approval(p, repository, stage)
    approvers = approval.approvers if approval else []
    declared = tuple(a for a in approvers if a.startswith("S"))
    if not declared or groups_of is None or user in approvers:
        return ()
    return groups_of(user, declared)


def slack_groups(client: Any) -> GroupsOf:
    """`GroupsOf` through Slack's usergroups.users.list with `client` (a notify.slack_api.WebClient)."""

    def member_of(user: str, groups: tuple[str, ...]) -> tuple[str, ...]:
        found = []
        for group in groups:
            try:
                users = client.usergroups_users_list(usergroup=group).get("users") or []
            except Exception as exc:  # an unreadable group admits nobody; the press is refused as not declared
                logger.warning("Slack user group not readable", extra={"group": group, "error": str(exc)[:200]})
                count("SlackGroupUnreadable")
                continue
            if user in users:
                found.append(group)
        return tuple(found)

    return member_of


def _signed(secret: str, timestamp: str, body: str, signature: str, now: float) -> bool:
    """Slack's v0 request signature: fresh (5 minutes) and the HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    if abs(now - int(timestamp)) > SIGNATURE_MAX_AGE:
        return False
    mac = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"v0={mac}", signature)


def _press(body: str) -> tuple[Decision, str, str] | None:
    """(decision, promotion key, Slack user id) of a block_actions payload pressing one of our buttons."""
    try:
        payload: Any = json.loads(urllib.parse.parse_qs(body).get("payload", [""])[0])
        action = payload["actions"][0]
        decision, key, user = ACTIONS.get(str(action["action_id"])), str(action["value"]), str(payload["user"]["id"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if decision is None or payload.get("type") != "block_actions" or "@" not in key or ">" not in key:
        return None
    return decision, key, user
