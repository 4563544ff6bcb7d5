"""hello-web: a tiny HTTP service for ECS, standard library only.

GET /        says hello, with the version and CPU architecture the image was built for
GET /health  200 while the service is healthy (the task definition's health check asks it)

`python3 server.py --check` is the health check itself: it asks /health and exits 0 (healthy) or 1.
An image built with `--build-arg BROKEN=1` exits at start, as a bad release would: ECS's deployment circuit
breaker then rolls the service back, and Dockhand reports it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT", "8080"))
VERSION = os.environ.get("APP_VERSION", "dev")
ARCH = os.environ.get("APP_ARCH", "unknown")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":
            self._reply(200, {"status": "ok"})
        elif self.path == "/":
            self._reply(200, {"hello": "from ECS", "version": VERSION, "arch": ARCH})
        else:
            self._reply(404, {"error": f"no such page: {self.path}"})

    def _reply(self, status: int, body: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # one line per request, to stdout (awslogs)
        if self.path != "/health":  # the health check asks every 15 s
            print(f"{self.address_string()} {format % args}", flush=True)


def check() -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=3) as response:
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


def main() -> int:
    if "--check" in sys.argv[1:]:
        return check()
    if os.environ.get("BROKEN"):
        print("hello-web: refusing to start: this image was built with BROKEN=1", file=sys.stderr, flush=True)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # ECS stops a task with SIGTERM (then SIGKILL)
    with ThreadingHTTPServer(("0.0.0.0", PORT), Handler) as server:
        print(f"hello-web {VERSION} ({ARCH}) listening on :{PORT}", flush=True)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
