"""Finding Dockhand's own Slack messages again, by the message metadata they were posted with.

Every message the bot posts or updates carries metadata `{"event_type": "dockhand_notification", "event_payload":
{"key": …, "update_key": …, "thread_key": …}}`: the notification's key and the keys later notifications refer to
it by. When Dockhand cannot tell whether a post went through (the write after it failed), or has lost a message's
saved reference, it reads the channel back (`conversations.history`, or `conversations.replies` for a thread, with
`include_all_metadata`) and finds the message by those keys instead of posting again. Reading history needs the
bot scopes `channels:history` (public channels) or `groups:history` (private ones), and the channel's id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dockhand.notify.model import Notification

EVENT_TYPE = "dockhand_notification"
PAGE = 200  # messages per history page
PAGES = 5  # pages read at most when looking for a message (the newest 1,000)
MARGIN = 300  # seconds before a send began that its message is looked for (Slack's clock is not ours)

Match = Callable[[dict[str, Any]], bool]


def metadata_for(n: Notification) -> dict[str, Any]:
    """The metadata a message of `n` is posted (or updated) with."""
    keys = (("key", n.key), ("update_key", n.update_key), ("thread_key", n.thread_key))
    return {"event_type": EVENT_TYPE, "event_payload": {name: value for name, value in keys if value}}


def keyed(name: str, value: str | None) -> Match:
    """Matches a message of Dockhand's whose metadata names `value` as its `name` (key, update_key, thread_key)."""

    def match(message: dict[str, Any]) -> bool:
        meta = message.get("metadata") or {}
        return (
            value is not None
            and meta.get("event_type") == EVENT_TYPE
            and (meta.get("event_payload") or {}).get(name) == value
        )

    return match


def search(client: Any, channel: str, match: Match, oldest: float | None = None) -> str | None:
    """The ts of the newest top-level message of `channel` (since `oldest`) that `match` takes, or None."""
    kwargs: dict[str, Any] = {"channel": channel, "limit": PAGE, "include_all_metadata": True}
    if oldest is not None:
        kwargs["oldest"] = f"{max(oldest - MARGIN, 0):.6f}"
    return _pages(lambda cursor: client.conversations_history(**kwargs, cursor=cursor), match)


def search_thread(client: Any, channel: str, parent_ts: str, match: Match) -> str | None:
    """The ts of a message in the thread of `parent_ts` that `match` takes, or None."""
    return _pages(
        lambda cursor: client.conversations_replies(
            channel=channel, ts=parent_ts, limit=PAGE, include_all_metadata=True, cursor=cursor
        ),
        match,
    )


def message(client: Any, channel: str, ts: str) -> dict[str, Any] | None:
    """One message of `channel` by its ts (Slack's way: history bounded to that ts, inclusive)."""
    out = client.conversations_history(
        channel=channel, oldest=ts, latest=ts, inclusive=True, limit=1, include_all_metadata=True
    )
    return next(iter(out.get("messages") or []), None)


def _pages(read: Callable[[str | None], Any], match: Match) -> str | None:
    cursor: str | None = None
    for _ in range(PAGES):
        out = read(cursor)
        for found in out.get("messages") or []:
            if match(found):
                return str(found["ts"])
        cursor = (out.get("response_metadata") or {}).get("next_cursor") or None
        if not out.get("has_more") or not cursor:
            return None
    return None
