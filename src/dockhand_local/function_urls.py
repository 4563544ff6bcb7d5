"""Function URLs on loopback: a template function with `FunctionUrlConfig` answers HTTP at
`<control URL>/fn/<LogicalId>/`, as Lambda's function URL would (payload format 2.0).

The stack resolves `!GetAtt <Function>Url.FunctionUrl` to that address, so the output (the approver's `ApproverUrl`)
is the URL a local Slack app's Interactivity Request URL would be; the loopback Slack presses buttons there.
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

PREFIX = "/fn/"


def url_of(control_url: str, logical_id: str) -> str:
    """The function URL of template function `logical_id` (trailing slash, as Lambda's are)."""
    return f"{control_url}{PREFIX}{logical_id}/"


def function_of(path: str) -> tuple[str, str]:
    """`/fn/ApproverFunction/some/path?x=1` -> ('ApproverFunction', '/some/path')."""
    rest = urlsplit(path).path.removeprefix(PREFIX)
    logical, _, tail = rest.partition("/")
    return logical, "/" + tail


def url_event(method: str, path: str, headers: dict[str, str], body: bytes, host: str) -> dict[str, Any]:
    """The event Lambda hands a function behind its URL (payload format 2.0): headers lower-cased, a text body as
    it came (a binary one base64-encoded)."""
    split = urlsplit(path)
    _logical, raw_path = function_of(path)
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": split.query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("User-Agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


def http_answer(result: Any) -> tuple[int, dict[str, str], bytes]:
    """What the URL answers for a handler's return value: a dict with statusCode/headers/body, or (as Lambda does
    for anything else) 200 with the value as JSON."""
    import json

    if isinstance(result, dict) and "statusCode" in result:
        body = str(result.get("body") or "")
        data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        return int(result["statusCode"]), {str(k): str(v) for k, v in (result.get("headers") or {}).items()}, data
    return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()
