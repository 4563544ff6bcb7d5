"""A loopback stand-in for Slack: incoming webhooks and the two Web API methods Dockhand calls.

A real HTTP server on 127.0.0.1 (an ephemeral port), so slack_sdk talks to it exactly as it talks to Slack:
`POST /webhook/<id>` answers `ok`; `POST /api/chat.postMessage` and `/api/chat.update` answer Slack's JSON
(`ok`, `channel`, `ts`, `message`). Every accepted message is kept in `messages` (and handed to `on_message`);
`fail_next(n)` makes the next n requests fail with a status, `set_down(True)` every request until
`set_down(False)` (an outage). Tests and `dockhand local` both use it.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


class LoopbackSlack:
    def __init__(self, on_message: Callable[[dict[str, Any] | None], None] | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.on_message = on_message  # called with each kept message, and with None for each refused request
        self.down = False
        self._lock = threading.Lock()
        self._failures: list[int] = []
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> LoopbackSlack:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8") if length else ""
                status, body = owner._handle(self.path, raw, self.headers.get("Content-Type", ""))
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if isinstance(body, bytes) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests capture output
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="loopback-slack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
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

    def _handle(self, path: str, raw: str, content_type: str) -> tuple[int, Any]:
        with self._lock:
            status = self._failures.pop(0) if self._failures else (503 if self.down else 0)
        if status:
            if self.on_message is not None:
                self.on_message(None)
            return status, b"internal_error" if status != 503 else b"service_unavailable"
        payload = _parse(raw, content_type)
        if path.startswith("/webhook/"):
            self._keep("webhook", payload, channel=None, ts=None)
            return 200, b"ok"
        if path.startswith("/api/chat.postMessage"):
            channel = str(payload.get("channel") or "C000LOOPBACK")
            ts = f"{1700000000 + next(self._ts)}.000100"
            message = self._keep("post", payload, channel=channel, ts=ts)
            return 200, {"ok": True, "channel": channel, "ts": ts, "message": message}
        if path.startswith("/api/chat.update"):
            channel, ts = str(payload.get("channel") or ""), str(payload.get("ts") or "")
            if not any(m["ts"] == ts and m["kind"] == "post" for m in self.messages):
                return 200, {"ok": False, "error": "message_not_found"}
            message = self._keep("update", payload, channel=channel, ts=ts)
            return 200, {"ok": True, "channel": channel, "ts": ts, "text": message["text"], "message": message}
        return 404, {"ok": False, "error": "unknown_method"}

    def _keep(self, kind: str, payload: dict[str, Any], channel: str | None, ts: str | None) -> dict[str, Any]:
        blocks = payload.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        message = {
            "kind": kind,
            "channel": channel,
            "ts": ts,
            "thread_ts": payload.get("thread_ts"),
            "text": payload.get("text", ""),
            "blocks": blocks or [],
        }
        with self._lock:
            self.messages.append(message)
        if self.on_message is not None:
            self.on_message(message)
        return message


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
