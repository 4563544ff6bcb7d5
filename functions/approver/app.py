"""Approver: Slack's interaction requests (a press of Approve or Reject on a promotion's approval message), through
the function's URL. Only a request signed with the Slack app's signing secret is read; the answer itself is
`dockhand.promote.slack_answers` (a declared approver's answer to a pending promotion, then a `decided` message
on the watcher's queue)."""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from dockhand import deps
from dockhand.notify.slack import SlackCredentialError, load_credentials, web_client
from dockhand.observability import logger, metrics, traced
from dockhand.promote.context import Promoter, PromotionQueues
from dockhand.promote.slack_answers import GroupsOf, answer_interaction, slack_groups
from dockhand.settings import settings

MAX_BODY = 64 * 1024  # Slack's interaction payloads are a few KB


def promoter() -> Promoter:
    s = settings()
    queues = PromotionQueues(deps.client("sqs"), s.watch_queue_url, s.deploy_queue_url) if s.watch_queue_url else None
    return Promoter(config=deps.config(), table=deps.table(), notifier=deps.notifier(), queues=queues)


def credentials() -> dict[str, str]:
    """The Slack credential (Secrets Manager or SSM): `signing_secret`, and the bot token groups are read with."""
    slack = deps.config().notifications.slack
    name = (slack.secret_name if slack else None) or settings().slack_secret
    if slack is None or not name:
        return {}
    try:
        return load_credentials(slack.secret_source, name)
    except SlackCredentialError as exc:
        logger.error("Slack credential not readable", extra={"error": str(exc)})
        return {}


def groups_of(creds: dict[str, str]) -> GroupsOf | None:
    """Who is in a declared Slack user group, asked with the bot token (none without one)."""
    return slack_groups(web_client(creds)) if creds.get("bot_token") else None


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    raw = str(event.get("body") or "")
    body = base64.b64decode(raw).decode("utf-8", "replace") if event.get("isBase64Encoded") else raw
    if len(body) > MAX_BODY:
        return _reply(413, "too large")
    creds = credentials()  # read once: the signing secret, and the bot token that reads user groups
    headers = dict(event.get("headers") or {})
    reply = answer_interaction(body, headers, creds.get("signing_secret", ""), promoter(), groups_of=groups_of(creds))
    return _reply(reply.status, reply.text)


def _reply(status: int, text: str) -> dict[str, Any]:
    body = {"response_type": "ephemeral", "replace_original": False, "text": text}
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
