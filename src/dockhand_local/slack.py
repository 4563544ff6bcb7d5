"""A loopback stand-in for Slack: incoming webhooks and the Web API methods Dockhand calls, as Slack answers them.

A real HTTP server on 127.0.0.1 (an ephemeral port), so slack_sdk talks to it exactly as it talks to Slack:

- `POST /webhook/<id>` answers `ok`.
- `chat.postMessage` (`channel`, `text`, `blocks`, `thread_ts`, `metadata`) and `chat.update` (`channel`, `ts`,
  `text`, `blocks`, `metadata`) answer Slack's JSON (`ok`, `channel`, `ts`, `message`); an update of a message that
  is not in the channel is `message_not_found`, metadata without `event_type` and an object `event_payload` is
  `invalid_metadata_format`.
- `conversations.history` (`channel`, `oldest`, `latest`, `inclusive`, `limit`, `cursor`, `include_all_metadata`)
  answers the channel's top-level messages newest first; `conversations.replies` (`channel`, `ts`, …) a thread,
  parent first. Messages carry their `metadata` only when `include_all_metadata` is set, as Slack's do; a channel
  given by name (`#deploys`) is `channel_not_found` (Slack wants the id there). Pages follow `response_metadata`.

Message timestamps are the clock's time (unique and increasing, as Slack's `ts`), so `oldest`/`latest` work.
Every accepted post, update and webhook is kept in `messages` (in order, and handed to `on_message`);
`fail_next(n)` makes the next n requests fail with a status, `set_down(True)` every request until `set_down(False)`
(an outage). Tests and `dockhand local` both use it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_LIMIT = 999  # conversations.history and conversations.replies
DEFAULT_LIMIT = 100
BOT_ID = "B0LOOPBACK"


class LoopbackSlack:
    def __init__(self, on_message: Callable[[dict[str, Any] | None], None] | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.on_message = on_message  # called with each kept message, and with None for each refused request
        self.down = False
        self._lock = threading.Lock()
        self._failures: list[int] = []
        self._last_ts = 0.0
        self._channels: dict[str, list[dict[str, Any]]] = {}  # channel id -> its messages, oldest first
        self.usergroups: dict[str, list[str]] = {}  # user group id (S…) -> its members' user ids
        self.calls: list[str] = []  # every Web API method asked, in order
        self._unannounced: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> LoopbackSlack:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, raw: str) -> None:
                status, body = owner._handle(self.path, raw, self.headers.get("Content-Type", ""))
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if isinstance(body, bytes) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._answer(self.rfile.read(length).decode("utf-8") if length else "")

            def do_GET(self) -> None:
                self._answer("")

            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests capture output
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        return self.resume()

    def pause(self) -> None:
        """Stop answering (requests wait in the listening socket) but keep the port: before a fork, so that the
        process that calls `resume()` is the one that answers."""
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._thread = None

    def resume(self) -> LoopbackSlack:
        """Answer again, from this process."""
        if self._server is None:
            raise RuntimeError("the loopback Slack is not started")
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="loopback-slack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self.pause()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LoopbackSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the loopback Slack is not started")
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/webhook/T000/B000/loopback"

    @property
    def api_url(self) -> str:
        """A base URL for slack_sdk's WebClient(base_url=...)."""
        return f"{self.base_url}/api/"

    # ---------------------------------------------------------------------------------------- behaviour
    def fail_next(self, n: int = 1, status: int = 500) -> None:
        with self._lock:
            self._failures += [status] * n

    def set_down(self, down: bool) -> None:
        """While down, every request fails with 503 (Slack's answer in an outage)."""
        with self._lock:
            self.down = down

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self._channels.clear()
            self._last_ts = 0.0

    def _handle(self, path: str, raw: str, content_type: str) -> tuple[int, Any]:
        with self._lock:
            status = self._failures.pop(0) if self._failures else (503 if self.down else 0)
        if status:
            if self.on_message is not None:
                self.on_message(None)
            return status, b"internal_error" if status != 503 else b"service_unavailable"
        url = urlsplit(path)
        payload = {k: v[0] for k, v in parse_qs(url.query).items()} | _parse(raw, content_type)
        if url.path.startswith("/webhook/"):
            with self._lock:
                self._log("webhook", payload, channel=None, ts=None, thread_ts=payload.get("thread_ts"))
            self._announce()
            return 200, b"ok"
        method = url.path.removeprefix("/api/")
        self.calls.append(method)
        handler = {
            "chat.postMessage": self._post,
            "chat.update": self._update,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "usergroups.users.list": self._usergroup_users,
        }.get(method)
        if handler is None:
            return 404, {"ok": False, "error": "unknown_method"}
        with self._lock:
            answer = handler(payload)
        self._announce()
        return 200, answer

    # ------------------------------------------------------------------------------------ interactivity
    def interaction(
        self, channel: str, ts: str, action_id: str, user_id: str, signing_secret: str, at: float | None = None
    ) -> tuple[dict[str, str], str]:
        """The request Slack sends an app's Interactivity Request URL when `user_id` presses the button `action_id`
        of the message `ts`: a form whose `payload` is the block_actions JSON, signed as Slack signs (v0:
        HMAC-SHA256 of `v0:{timestamp}:{body}` with the app's signing secret, at `at` or now)."""
        from urllib.parse import urlencode

        from slack_sdk.signature import SignatureVerifier

        with self._lock:
            message = _find(self._channels.get(channel, []), ts)
            if message is None:
                raise KeyError(f"no message {ts} in {channel}")
            block, button = next(
                (b, e)
                for b in message.get("blocks", [])
                for e in b.get("elements", [])
                if b.get("type") == "actions" and e.get("action_id") == action_id
            )
        action = {"type": "button", "block_id": block.get("block_id", ""), "action_ts": f"{time.time():.6f}"}
        payload = {
            "type": "block_actions",
            "user": {"id": user_id},
            "channel": {"id": channel},
            "message": {"ts": ts, "text": message.get("text", "")},
            "actions": [action | {"action_id": action_id, "value": button.get("value", "")}],
            "response_url": f"{self.base_url}/response/{ts}",
        }
        body = urlencode({"payload": json.dumps(payload)})
        timestamp = str(int(time.time() if at is None else at))
        signature = SignatureVerifier(signing_secret).generate_signature(timestamp=timestamp, body=body)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature or "",
        }
        return headers, body

    def newest_with_action(self, action_id: str) -> tuple[str, str, str]:
        """(channel, ts, button value) of the newest message that still carries a button `action_id` (an answered
        approval request has lost its buttons)."""
        with self._lock:
            found = [
                (m["ts"], channel, e.get("value", ""))
                for channel, conversation in self._channels.items()
                for m in conversation
                for b in m.get("blocks", [])
                if b.get("type") == "actions"
                for e in b.get("elements", [])
                if e.get("action_id") == action_id
            ]
        if not found:
            raise LookupError(f"no Slack message carries a {action_id} button (nothing is waiting for an answer)")
        ts, channel, value = max(found, key=lambda f: float(f[0]))
        return channel, ts, value

    def press(
        self, url: str, channel: str, ts: str, action_id: str, user_id: str, signing_secret: str
    ) -> tuple[int, str]:
        """Press a button: POST the signed interaction to `url` (the app's Interactivity Request URL, such as the
        approver's function URL); the status and body it answers."""
        import urllib.error
        import urllib.request

        headers, body = self.interaction(channel, ts, action_id, user_id, signing_secret)
        request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # the URL the test or runtime gives
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode()

    # ------------------------------------------------------------------------------------------ chat.*
    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        channel = str(payload.get("channel") or "C000LOOPBACK")
        metadata, error = _metadata(payload)
        if error:
            return {"ok": False, "error": error}
        ts = self._next_ts()
        message: dict[str, Any] = {"type": "message", "bot_id": BOT_ID, "ts": ts, **_content(payload)}
        if metadata is not None:
            message["metadata"] = metadata
        conversation = self._channels.setdefault(channel, [])
        parent_ts = payload.get("thread_ts")
        parent = _find(conversation, str(parent_ts)) if parent_ts else None
        if parent is not None:
            message["thread_ts"] = parent["ts"]
            parent.update(thread_ts=parent["ts"], reply_count=parent.get("reply_count", 0) + 1, latest_reply=ts)
        conversation.append(message)
        asked = message.get("thread_ts") or payload.get("thread_ts")
        self._log("post", payload, channel=channel, ts=ts, thread_ts=asked, metadata=metadata)
        return {"ok": True, "channel": channel, "ts": ts, "message": dict(message)}

    def _update(self, payload: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(payload.get("channel") or ""), str(payload.get("ts") or "")
        message = _find(self._channels.get(channel, []), ts)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        metadata, error = _metadata(payload)
        if error:
            return {"ok": False, "error": error}
        message.update(_content(payload), edited={"user": BOT_ID, "ts": self._next_ts()})
        if metadata is not None:
            message["metadata"] = metadata
        self._log("update", payload, channel=channel, ts=ts, thread_ts=None, metadata=metadata)
        return {"ok": True, "channel": channel, "ts": ts, "text": message["text"], "message": dict(message)}

    # --------------------------------------------------------------------------------- conversations.*
    def _history(self, payload: dict[str, Any]) -> dict[str, Any]:
        channel = str(payload.get("channel") or "")
        if not channel or channel.startswith("#"):
            return {"ok": False, "error": "channel_not_found"}
        top = [m for m in self._channels.get(channel, []) if m.get("thread_ts", m["ts"]) == m["ts"]]
        return _page(list(reversed(top)), payload)

    def _replies(self, payload: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(payload.get("channel") or ""), str(payload.get("ts") or "")
        if not channel or channel.startswith("#"):
            return {"ok": False, "error": "channel_not_found"}
        conversation = self._channels.get(channel, [])
        parent = _find(conversation, ts)
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        thread = [parent] + [m for m in conversation if m.get("thread_ts") == ts and m["ts"] != ts]
        return _page(thread, payload)

    # -------------------------------------------------------------------------------------------- state
    def _usergroup_users(self, payload: dict[str, Any]) -> dict[str, Any]:
        group = str(payload.get("usergroup") or "")
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.usergroups[group])}

    def _next_ts(self) -> str:
        """Slack's `ts`: the time of the message, unique in the workspace and increasing."""
        self._last_ts = max(round(time.time(), 6), round(self._last_ts + 0.000001, 6))
        return f"{self._last_ts:.6f}"

    def _log(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        channel: str | None,
        ts: str | None,
        thread_ts: Any = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Keep an accepted message in `messages` (the caller holds the lock)."""
        entry = {"kind": kind, "channel": channel, "ts": ts, "thread_ts": thread_ts, **_content(payload)}
        if metadata is not None:
            entry["metadata"] = metadata
        self.messages.append(entry)
        self._unannounced.append(entry)

    def _announce(self) -> None:
        """Hand the messages kept since the last call to `on_message` (outside the lock)."""
        with self._lock:
            kept, self._unannounced = self._unannounced, []
        if self.on_message is not None:
            for entry in kept:
                self.on_message(entry)


def _content(payload: dict[str, Any]) -> dict[str, Any]:
    blocks = payload.get("blocks")
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return {"text": payload.get("text", ""), "blocks": blocks or []}


def _metadata(payload: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The message metadata of a chat.* call (a JSON object, or a JSON string in a form), or Slack's error."""
    raw = payload.get("metadata")
    if raw is None or raw == "":
        return None, None
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return None, "invalid_metadata_format"
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("event_type"), str)
        or not isinstance(data.get("event_payload"), dict)
    ):
        return None, "invalid_metadata_format"
    return {"event_type": data["event_type"], "event_payload": data["event_payload"]}, None


def _find(conversation: list[dict[str, Any]], ts: str) -> dict[str, Any] | None:
    return next((m for m in conversation if m["ts"] == ts), None)


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true")


def _page(messages: list[dict[str, Any]], payload: dict[str, Any]) -> dict[str, Any]:
    """One page of `messages` (already in the method's order) within oldest/latest, as Slack pages them."""
    oldest, latest = float(payload.get("oldest") or 0), float(payload.get("latest") or time.time() + 1)
    inclusive = _truthy(payload.get("inclusive", "0"))

    def within(m: dict[str, Any]) -> bool:
        ts = float(m["ts"])
        return (oldest <= ts <= latest) if inclusive else (oldest < ts < latest)

    chosen = [m for m in messages if within(m)]
    start = int(payload.get("cursor") or 0)
    limit = max(1, min(int(payload.get("limit") or DEFAULT_LIMIT), MAX_LIMIT))
    page = chosen[start : start + limit]
    with_metadata = _truthy(payload.get("include_all_metadata", "0"))
    shown = [m if with_metadata else {k: v for k, v in m.items() if k != "metadata"} for m in page]
    more = start + limit < len(chosen)
    return {
        "ok": True,
        "messages": [dict(m) for m in shown],
        "has_more": more,
        "pin_count": 0,
        "response_metadata": {"next_cursor": str(start + limit) if more else ""},
    }


def _parse(raw: str, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    if "application/x-www-form-urlencoded" in content_type:
        return {k: v[0] for k, v in parse_qs(raw).items()}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}
