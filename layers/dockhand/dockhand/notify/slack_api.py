"""The few Slack HTTP calls Dockhand makes (an incoming-webhook post and Web API methods), over urllib3.

urllib3 is already loaded by botocore, so a cold start pays nothing to import this, where slack_sdk cost tens of
milliseconds; the clients keep slack_sdk's names and the part of its behaviour the Slack channel relies on:
`WebhookClient(url, timeout).send(...)` answers a status and a body; `WebClient(token, timeout, base_url)` posts a
write method's arguments as JSON with the bot token (a read method such as conversations.history sends query
parameters in a GET) and raises `SlackApiError` (carrying the response: `status_code`, `get("error")`)
unless Slack answers 200 with `"ok": true`. A refused connection is tried once more, nothing else is (a post that
reached Slack is never sent twice); an HTTPS_PROXY (or HTTP_PROXY) in the environment is used, as slack_sdk uses it.
Nothing here logs, and urllib3's request lines (a webhook URL's path is its secret) are kept below the log level:
a URL or a token never reaches a log line.
"""

from __future__ import annotations

import json
import logging
import os
from functools import cache
from typing import Any

import urllib3

API_URL = "https://slack.com/api/"
USER_AGENT = "dockhand (urllib3)"
_NOT_CONNECTED = (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)

# urllib3 logs every request line, path included, at DEBUG: never below INFO here (botocore's requests lose only
# that line; botocore logs its own).
_requests_log = logging.getLogger("urllib3.connectionpool")
if _requests_log.level < logging.INFO:  # NOTSET included: a DEBUG root would otherwise reach it
    _requests_log.setLevel(logging.INFO)


_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


@cache
def _pool() -> urllib3.PoolManager:
    """One pool per container: a warm function reuses its connection to Slack."""
    proxy = next((os.environ[k].strip() for k in _PROXY_VARIABLES if os.environ.get(k, "").strip()), "")
    headers = {"User-Agent": USER_AGENT}
    return urllib3.ProxyManager(proxy, headers=headers) if proxy else urllib3.PoolManager(headers=headers)


def _post(url: str, body: dict[str, Any], timeout: float, headers: dict[str, str] | None = None) -> Any:
    """POST `body` as JSON; the urllib3 response. A connection that could not be made is tried once more."""
    data = json.dumps(body).encode()
    return _send("POST", url, timeout, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, data)


def _get(url: str, fields: dict[str, str], timeout: float, headers: dict[str, str] | None = None) -> Any:
    """GET with `fields` as query parameters; the urllib3 response (a connection not made is tried once more)."""
    return _send("GET", url, timeout, headers or {}, None, fields)


def _send(verb: str, url: str, timeout: float, headers: dict[str, str], body: bytes | None, fields: Any = None) -> Any:
    def send() -> Any:
        return _pool().request(
            verb,
            url,
            body=body,
            fields=fields,
            headers=headers,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=False,
            redirect=False,
        )

    try:
        return send()
    except _NOT_CONNECTED:
        return send()


class WebhookResponse:
    def __init__(self, status_code: int, body: str) -> None:
        self.status_code = status_code
        self.body = body


class WebhookClient:
    """An incoming webhook (or a `response_url`)."""

    def __init__(self, url: str, timeout: float = 30, logger: logging.Logger | None = None) -> None:
        self.url = url
        self.timeout = timeout

    def send(
        self, *, text: str | None = None, blocks: list[dict[str, Any]] | None = None, **fields: Any
    ) -> WebhookResponse:
        body = {k: v for k, v in {"text": text, "blocks": blocks, **fields}.items() if v is not None}
        response = _post(self.url, body, self.timeout)
        return WebhookResponse(response.status, response.data.decode("utf-8", "replace"))


class SlackResponse:
    """A Web API answer: its HTTP status and, when Slack sent JSON, its fields."""

    def __init__(self, status_code: int, data: dict[str, Any]) -> None:
        self.status_code = status_code
        self.data = data

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


class SlackApiError(Exception):
    """Slack did not answer 200 with `"ok": true`; the message names the method and the error, never the token."""

    def __init__(self, message: str, response: SlackResponse) -> None:
        super().__init__(message)
        self.response = response


class WebClient:
    """The Web API methods Dockhand calls, each a JSON POST with the bot token."""

    def __init__(
        self, token: str, timeout: float = 30, base_url: str = API_URL, logger: logging.Logger | None = None
    ) -> None:
        self._token = token
        self.timeout = timeout
        self.base_url = base_url if base_url.endswith("/") else f"{base_url}/"

    def api_call(self, method: str, **params: Any) -> SlackResponse:
        """A write method: JSON arguments, POSTed."""
        body = {k: v for k, v in params.items() if v is not None}
        raw = _post(self.base_url + method, body, self.timeout, {"Authorization": f"Bearer {self._token}"})
        return self._answer(method, raw)

    def api_get(self, method: str, **params: Any) -> SlackResponse:
        """A read method: query parameters (booleans as 1/0, as Slack reads them), a GET."""
        fields = {k: ("1" if v else "0") if isinstance(v, bool) else str(v) for k, v in params.items() if v is not None}
        raw = _get(self.base_url + method, fields, self.timeout, {"Authorization": f"Bearer {self._token}"})
        return self._answer(method, raw)

    @staticmethod
    def _answer(method: str, raw: Any) -> SlackResponse:
        try:
            data = json.loads(raw.data)
        except ValueError:
            data = {}
        response = SlackResponse(raw.status, data if isinstance(data, dict) else {})
        if raw.status != 200 or response.get("ok") is not True:
            raise SlackApiError(f"{method} failed: HTTP {raw.status} {response.get('error') or ''}".strip(), response)
        return response

    def chat_postMessage(self, **params: Any) -> SlackResponse:
        return self.api_call("chat.postMessage", **params)

    def chat_update(self, **params: Any) -> SlackResponse:
        return self.api_call("chat.update", **params)

    def conversations_history(self, **params: Any) -> SlackResponse:
        return self.api_get("conversations.history", **params)

    def conversations_replies(self, **params: Any) -> SlackResponse:
        return self.api_get("conversations.replies", **params)

    def usergroups_users_list(self, **params: Any) -> SlackResponse:
        """The members of a user group (`usergroup=S…`): `users`, a list of user ids (scope usergroups:read)."""
        return self.api_get("usergroups.users.list", **params)
