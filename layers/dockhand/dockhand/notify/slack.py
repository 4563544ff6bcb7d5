"""Slack channel (notify.slack_api): incoming-webhook mode or bot-token mode, Block Kit layout.

Credentials live in Secrets Manager (default) or an SSM SecureString, read through Powertools Parameters with
caching. The value is JSON: `{"webhook_url": "..."}` or `{"bot_token": "xoxb-...", "api_url": "..."}`
(`api_url` points the Web API client elsewhere: the loopback Slack of the local runtime and the tests).
The URL and the token never reach a log line, an environment variable or an error message: failures are
reported by type and HTTP status only, and the HTTP client never logs.

Bot mode keeps a key -> (channel, ts) map in the state table (pk `SLACK#<key>`): a notification with an
`update_key` and role `update` edits the message posted under that key (chat.update); one with a `thread_key`
and role `follow_up` is posted in the thread of the first message of that key. Webhook mode cannot edit or
thread, so it posts a new message each time.

In bot mode every message carries its notification's keys as message metadata (`notify/slack_history.py`), so
Slack itself is the record: a reference that could not be saved is looked up instead of being lost, and a post
whose outcome was never recorded is found (`find`) instead of being posted twice. A webhook cannot be read back:
its deliveries are taken at their word.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from dockhand.config import DockhandConfig
from dockhand.notify import slack_history
from dockhand.notify.model import EMOJI, Delivery, Notification
from dockhand.observability import count, logger
from dockhand.settings import Settings
from dockhand.state.table import Table, ttl_after

# Slack errors that say the channel cannot be read back (not a transient outage): deliveries are then assumed.
CANNOT_READ = frozenset({"channel_not_found", "not_in_channel", "missing_scope", "not_allowed_token_type"})
SECRET_MAX_AGE = 300  # seconds a fetched credential is reused (Powertools Parameters cache)
TIMEOUT = 5
_REF_TTL = 30 * 86400

# slack_sdk logs full request URLs at DEBUG; a logger of our own, pinned above DEBUG, means it never does.
_sdk_logger = logging.getLogger("dockhand.slack_sdk")
_sdk_logger.setLevel(logging.WARNING)
_sdk_logger.propagate = False
# botocore dumps whole response bodies at DEBUG, GetSecretValue's included: never below INFO here.
_parsers = logging.getLogger("botocore.parsers")
if _parsers.level < logging.INFO:  # NOTSET included: a DEBUG root would otherwise reach it
    _parsers.setLevel(logging.INFO)


class SlackCredentialError(Exception):
    """The secret holds neither a webhook URL nor a bot token (the message never quotes the value)."""


def load_credentials(source: str, name: str, max_age: int = SECRET_MAX_AGE) -> dict[str, str]:
    """Read the Slack credential JSON through Powertools Parameters (cached for `max_age` seconds)."""
    from aws_lambda_powertools.utilities import parameters

    try:
        if source == "ssm":
            value = parameters.get_parameter(name, decrypt=True, max_age=max_age, transform="json")
        else:
            value = parameters.get_secret(name, max_age=max_age, transform="json")
    except Exception as exc:  # the Parameters error text may quote the payload: keep only its type
        raise SlackCredentialError(f"cannot read the Slack credential {name!r} ({type(exc).__name__})") from None
    if not isinstance(value, dict) or not (value.get("webhook_url") or value.get("bot_token")):
        raise SlackCredentialError(f"the Slack credential {name!r} has neither webhook_url nor bot_token")
    return {k: str(v) for k, v in value.items() if isinstance(v, str)}


def web_client(creds: dict[str, str]) -> Any:
    """The Web API client of a bot credential (`bot_token`, and `api_url` where Slack is elsewhere)."""
    from dockhand.notify.slack_api import WebClient

    elsewhere = {"base_url": creds["api_url"]} if creds.get("api_url") else {}
    return WebClient(creds["bot_token"], timeout=TIMEOUT, logger=_sdk_logger, **elsewhere)


# ------------------------------------------------------------------------------------------------ layout


def blocks_for(n: Notification) -> list[dict[str, Any]]:
    """Block Kit: a header, the text, the fields two by two, and the links as buttons."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{n.title}"[:150], "emoji": True}},
    ]
    context = " · ".join(x for x in (n.severity.upper(), n.kind, n.cluster, n.service or n.job) if x)
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"{EMOJI[n.severity]} {context}"}]})
    if n.text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": n.text[:3000]}})
    items = list(n.fields.items())
    for start in range(0, len(items), 10):  # a section holds at most 10 fields
        chunk = items[start : start + 10]
        blocks.append(
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"[:2000]} for k, v in chunk]}
        )
    if n.links:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": link.label[:75]}, "url": link.url}
                    for link in n.links[:5]
                ],
            }
        )
    if n.buttons:  # answered through the approver's function URL (block_id names them for the answer)
        blocks.append({"type": "actions", "block_id": "dockhand_buttons", "elements": [b.block() for b in n.buttons]})
    return blocks


def fallback_text(n: Notification) -> str:
    return f"{EMOJI[n.severity]} {n.title}" + (f"\n{n.text}" if n.text else "")


# -------------------------------------------------------------------------------------------- references


class SlackRefs:
    """key -> (channel, ts) of the message posted under that key (bot mode)."""

    def __init__(self, table: Table) -> None:
        self._t = table

    def get(self, key: str) -> tuple[str, str] | None:
        item = self._t.get(f"SLACK#{key}", "REF")
        return (str(item["channel"]), str(item["ts"])) if item else None

    def put(self, key: str, channel: str, ts: str, first_only: bool = False) -> None:
        item = {"pk": f"SLACK#{key}", "sk": "REF", "channel": channel, "ts": ts, "expires_at": ttl_after(_REF_TTL)}
        self._t.put(item, condition="attribute_not_exists(pk)" if first_only else None)


# ---------------------------------------------------------------------------------------------- channel


class SlackChannel:
    name = "slack"

    def __init__(
        self,
        credentials: Callable[[], dict[str, str]],
        refs: SlackRefs | None = None,
        channel: str | None = None,
        mode: str = "webhook",
    ) -> None:
        self._credentials = credentials
        self._refs = refs
        self._channel = channel
        self._mode = mode

    def send(self, n: Notification) -> Delivery:
        try:
            creds = self._credentials()
            if self._mode == "bot" and creds.get("bot_token"):
                return self._send_bot(n, creds)
            if creds.get("webhook_url"):
                return self._send_webhook(n, creds["webhook_url"])
            needed = "bot_token" if self._mode == "bot" else "webhook_url"
            raise SlackCredentialError(f"Slack {self._mode} mode needs {needed} in its credential")
        except SlackCredentialError as exc:
            return Delivery(channel=self.name, ok=False, error=str(exc))
        except Exception as exc:  # never str(exc): an HTTP error may quote the URL
            return Delivery(channel=self.name, ok=False, error=f"slack: {type(exc).__name__}")

    def _send_webhook(self, n: Notification, url: str) -> Delivery:
        from dockhand.notify.slack_api import WebhookClient

        client = WebhookClient(url, timeout=TIMEOUT, logger=_sdk_logger)
        response = client.send(text=fallback_text(n), blocks=blocks_for(n), unfurl_links=False)
        if response.status_code != 200:
            return Delivery(channel=self.name, ok=False, error=f"slack webhook: HTTP {response.status_code}")
        return Delivery(channel=self.name, ok=True, ref="webhook")

    def find(self, n: Notification, since: float) -> Delivery | None:
        """The message posted (or updated) for `n` since `since`, found by its metadata; None when there is none.
        A webhook, or a channel the bot cannot read, cannot be asked: the delivery is assumed."""
        from dockhand.notify.slack_api import SlackApiError

        creds = self._credentials()
        if self._mode != "bot" or not creds.get("bot_token"):
            return Delivery(channel=self.name, ok=True, assumed=True)
        client = web_client(creds)
        try:
            ref = self._find(client, n, since)
        except SlackApiError as exc:
            error = _slack_error(exc)
            if error not in CANNOT_READ:
                raise
            logger.warning("Slack channel cannot be read back; delivery assumed", extra={"error": error})
            return Delivery(channel=self.name, ok=True, assumed=True)
        return Delivery(channel=self.name, ok=True, ref=ref) if ref else None

    def _find(self, client: Any, n: Notification, since: float) -> str | None:
        mine = slack_history.keyed("key", n.key)
        if n.role == "update" and n.update_key and (target := self._ref(client, n.update_key)):
            channel, ts = target
            found = slack_history.message(client, channel, ts)
            return f"{channel}/{ts}" if found is not None and mine(found) else None
        if n.role == "follow_up" and n.thread_key and (parent := self._ref(client, n.thread_key)):
            channel, ts = parent
            reply = slack_history.search_thread(client, channel, ts, mine)
            return f"{channel}/{reply}" if reply else None
        channel = self._channel or ""
        posted = slack_history.search(client, channel, mine, oldest=since)
        return f"{channel}/{posted}" if posted else None

    def _ref(self, client: Any, key: str) -> tuple[str, str] | None:
        """(channel, ts) of the message posted under `key`: its saved reference, else found by its metadata."""
        if self._refs is None:
            return None
        saved = self._refs.get(key)
        if saved is not None:
            return saved
        from dockhand.notify.slack_api import SlackApiError

        channel = self._channel or ""
        match = slack_history.keyed("update_key", key)
        thread = slack_history.keyed("thread_key", key)
        try:
            ts = slack_history.search(client, channel, lambda m: match(m) or thread(m))
        except SlackApiError as exc:
            if _slack_error(exc) not in CANNOT_READ:
                raise
            return None  # the channel cannot be read back (a name instead of an id, a missing scope)
        return (channel, ts) if ts else None

    def _send_bot(self, n: Notification, creds: dict[str, str]) -> Delivery:
        from dockhand.notify.slack_api import SlackApiError

        client = web_client(creds)
        text, blocks, metadata = fallback_text(n), blocks_for(n), slack_history.metadata_for(n)
        try:
            if n.role == "update" and n.update_key and (ref := self._ref(client, n.update_key)):
                channel, ts = ref
                out = client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks, metadata=metadata)
                return Delivery(channel=self.name, ok=True, ref=f"{channel}/{out.get('ts', ts)}")
            post: dict[str, Any] = {
                "channel": self._channel or "",
                "text": text,
                "blocks": blocks,
                "metadata": metadata,
            }
            if n.role == "follow_up" and n.thread_key and (parent := self._ref(client, n.thread_key)):
                post["channel"], post["thread_ts"] = parent
            out = client.chat_postMessage(**post)
        except SlackApiError as exc:
            status = getattr(exc.response, "status_code", "?")
            error = _slack_error(exc)
            return Delivery(channel=self.name, ok=False, error=f"slack api: HTTP {status} {error or ''}".strip())
        channel, ts = str(out.get("channel", "")), str(out.get("ts", ""))
        if "thread_ts" not in post:
            self._remember(n, channel, ts)
        return Delivery(channel=self.name, ok=True, ref=f"{channel}/{ts}")

    def _remember(self, n: Notification, channel: str, ts: str) -> None:
        """Save the references later notifications use; the message is posted either way, and a reference not
        saved is found again by the message's metadata (`_ref`)."""
        if self._refs is None:
            return
        try:
            if n.update_key:
                self._refs.put(n.update_key, channel, ts)
            if n.thread_key:
                self._refs.put(n.thread_key, channel, ts, first_only=True)
        except Exception as exc:
            logger.warning(
                "Slack message reference not saved; it will be found by its metadata",
                extra={"key": n.key, "error": type(exc).__name__},
            )
            count("SlackReferenceNotSaved")


def _slack_error(exc: Any) -> str | None:
    """The `error` of a Slack Web API answer (never its request, which may carry the token)."""
    response: Any = getattr(exc, "response", None)
    error = response.get("error") if hasattr(response, "get") else None
    return str(error) if error else None


def channel_factory(
    cfg: DockhandConfig,
    settings: Settings,
    table: Table,
    credentials: Callable[[str, str], dict[str, str]] = load_credentials,
) -> SlackChannel | None:
    """The Slack channel deps.notifier() adds when the user's file configures one (bot mode keeps its message
    references in `table`); `credentials(source, name)` reads the credential, when the channel first needs it."""
    slack = cfg.notifications.slack
    if slack is None:
        return None
    name = slack.secret_name or settings.slack_secret
    if not name:
        return None
    source = slack.secret_source
    return SlackChannel(
        credentials=lambda: credentials(source, name),
        refs=SlackRefs(table) if slack.mode == "bot" else None,
        channel=slack.channel,
        mode=slack.mode,
    )
