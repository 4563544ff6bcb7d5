"""A small JSON API on loopback HTTP through which `dockhand local …` commands drive a running runtime.

GET  /status             endpoint, region, local clock
GET  /messages           Slack messages seen by the loopback Slack and SNS deliveries captured
GET  /timeline           what happened, in order
POST /stop-task          {cluster, service | family, exit_code, reason, count, started_by?}
POST /fail-next-deploy   {service, count?}
POST /job-exit-codes     {job, codes: ["CODE" or "CODE:DURATION", ...]}
POST /clock/advance      {seconds}
POST /sample             {}: the sample world of config/dockhand.yaml
POST /deploy-config      {path}: deploy a declarations file as `sam deploy` would
POST /wait               {timeout}: returns when nothing is moving (or what still moves at the timeout)
POST /channel            {channel: slack | sns, down: bool, seconds?}: an outage of a notification channel
POST /press              {decision: approve | reject, user?}: the loopback Slack presses a button of the newest
                         approval request (signed with the local app's signing secret) at the approver's URL
ANY  /fn/<LogicalId>/…   the function URL of a template function with FunctionUrlConfig (function_urls.py)
"""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from dockhand_local.clock import iso
from dockhand_local.ecs_sim import JobExit
from dockhand_local.function_urls import PREFIX
from dockhand_local.runtime import Runtime
from dockhand_local.sample import describe


class ControlServer:
    def __init__(self, runtime: Runtime, port: int = 0) -> None:
        self.runtime = runtime
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(runtime))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ControlServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="dockhand-local-control", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_for(runtime: Runtime) -> type[BaseHTTPRequestHandler]:
    def status() -> dict[str, Any]:
        return {
            "endpoint": runtime.endpoint,
            "region": runtime.region,
            "clock": iso(runtime.clock.now()),
            "speed": runtime.clock.speed,
            "errors": list(runtime.errors),
        }

    def stop_task(body: dict[str, Any]) -> dict[str, Any]:
        arns = runtime.stop_tasks(
            body["cluster"],
            service=body.get("service"),
            family=body.get("family"),
            exit_code=int(body.get("exit_code", 1)),
            reason=str(body.get("reason", "")),
            count=int(body.get("count", 1)),
            started_by=body.get("started_by"),
        )
        return {"task_arns": arns}

    def fail_next(body: dict[str, Any]) -> dict[str, Any]:
        runtime.fail_next_deploy(body["service"], int(body.get("count", 1)))
        return {"ok": True}

    def exit_codes(body: dict[str, Any]) -> dict[str, Any]:
        runtime.plan_job_exits(body["job"], [JobExit.parse(str(c)) for c in body["codes"]])
        return {"ok": True}

    def advance(body: dict[str, Any]) -> dict[str, Any]:
        return {"clock": iso(runtime.clock.advance(float(body["seconds"])))}

    def sample(body: dict[str, Any]) -> dict[str, Any]:
        made = runtime.create_sample()
        return {**made.as_dict(), "lines": describe(made)}

    def deploy_config(body: dict[str, Any]) -> dict[str, Any]:
        return {"lines": runtime.deploy_config(Path(body["path"]))}

    def channel(body: dict[str, Any]) -> dict[str, Any]:
        if body.get("down"):
            seconds = body.get("seconds")
            runtime.channel_down(str(body["channel"]), float(seconds) if seconds else None)
        else:
            runtime.channel_up(str(body["channel"]))
        return {"down": sorted(runtime.down)}

    def press(body: dict[str, Any]) -> dict[str, Any]:
        status, text = runtime.press(str(body["decision"]), str(body.get("user") or ""))
        return {"status": status, "answer": text}

    def wait(body: dict[str, Any]) -> dict[str, Any]:
        return {"busy": runtime.wait_idle(float(body.get("timeout", 60)))}

    gets = {"/status": status, "/messages": runtime.messages, "/timeline": runtime.timeline_dicts}
    posts = {
        "/stop-task": stop_task,
        "/fail-next-deploy": fail_next,
        "/job-exit-codes": exit_codes,
        "/clock/advance": advance,
        "/sample": sample,
        "/deploy-config": deploy_config,
        "/wait": wait,
        "/channel": channel,
        "/press": press,
    }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet: the timeline says what happened
            pass

        def _reply(self, status: int, payload: Any) -> None:
            data = json.dumps(payload, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _function_url(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, data = runtime.call_function_url(
                self.command, self.path, dict(self.headers.items()), body, self.headers.get("Host", "")
            )
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.startswith(PREFIX):
                self._function_url()
                return
            action = gets.get(self.path)
            if action is None:
                self._reply(404, {"error": f"no such resource: {self.path}"})
                return
            self._reply(200, action())

        def do_POST(self) -> None:
            if self.path.startswith(PREFIX):
                self._function_url()
                return
            action = posts.get(self.path)
            if action is None:
                self._reply(404, {"error": f"no such action: {self.path}"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                self._reply(200, action(body))
            except (KeyError, ValueError, TypeError) as exc:
                self._reply(400, {"error": f"{type(exc).__name__}: {exc}"})
            except Exception as exc:  # a moto error (unknown cluster, service) is the caller's input
                self._reply(400, {"error": f"{type(exc).__name__}: {exc}"})

    return Handler


def call(url: str, path: str, body: dict[str, Any] | None = None, timeout: float = 60) -> Any:
    """Client side: GET (no body) or POST (JSON body) to a running runtime's control API."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data=data, method="GET" if body is None else "POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # loopback only
        return json.loads(response.read())
