"""The local runtime: moto in server mode on loopback, the stack from template.yaml, and the real handlers.

Routing is the deployed one: events go to moto's EventBridge, the template's rules put them on the SQS queues,
and a pump delivers each function's queue to its `lambda_handler` in-process, with the environment template.yaml
gives that function. What AWS emits and moto does not is emitted here (see README, "Local runtime").

The parts, one module each: `stack` and `provision` build the stack, `moto_hooks` patch moto, `ecs_sim`
simulates ECS deployments and tasks, `schedules` fires schedules, `pump` pumps queues into the handlers;
this module starts and stops them and is what callers hold.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request
import warnings
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dockhand_local import moto_hooks, provision
from dockhand_local.clock import LocalClock, Timers, iso
from dockhand_local.ecs_sim import EcsSimulator
from dockhand_local.host import FunctionHost
from dockhand_local.pump import Delivery, Pump
from dockhand_local.schedules import ScheduleFirer
from dockhand_local.stack import Stack, create_stack

__all__ = ["STATE_FILE", "Delivery", "Runtime", "RuntimeOptions", "TimelineEntry", "read_state"]

STATE_FILE = Path(".dockhand/local.json")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}


@dataclass
class TimelineEntry:
    at: str
    clock: str
    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "clock": self.clock, "kind": self.kind, "text": self.text, "data": self.data}


@dataclass
class RuntimeOptions:
    config_path: Path = Path("config/dockhand.yaml")
    region: str = "us-east-1"
    port: int = 0
    control_port: int = 0
    speed: float = 60.0
    clock_start: datetime | None = None
    deploy_delay: float = 1.5  # wall seconds between IN_PROGRESS and COMPLETED/FAILED
    job_delay: float = 0.5  # wall seconds a job task runs
    state_dir: Path = Path(".dockhand")
    pump: bool = True  # False: deliver and fire schedules only on `deliver_pending()` / `fire_due_schedules()`
    slack: bool = True
    handler_log: Path | None = None  # where handlers' stdout (logs, EMF) goes; None: inherit


class Runtime:
    """Start with `start()`, stop with `stop()`; everything else is safe to call from any thread."""

    def __init__(self, options: RuntimeOptions | None = None) -> None:
        self.options = options or RuntimeOptions()
        self.region = self.options.region
        self.clock = LocalClock(self.options.clock_start, self.options.speed)
        self.timeline: list[TimelineEntry] = []
        self.errors: list[str] = []
        self.stack: Stack | None = None
        self.endpoint = ""
        self.slack: Any = None
        self.control: Any = None
        self.host: FunctionHost | None = None
        self.network: dict[str, str] = {}
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.timers = Timers(self.clock, self._timer_failed)
        self.ecs = EcsSimulator(self)
        self.pump: Pump | None = None
        self.schedules: ScheduleFirer | None = None
        self._server: Any = None
        self._session: Any = None
        self._clients: dict[str, Any] = {}
        self._threads: list[threading.Thread] = []
        self._config_copy: Path | None = None

    # ------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> Runtime:
        import logging

        import boto3
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request drowns the timeline
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.options.port, verbose=False)
        self._server.start()
        _host, port = self._server.get_host_and_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        # moto's backends are process-wide: a runtime starts from an empty world even if one ran here before.
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=30)
        self._session = boto3.Session(
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=CREDENTIALS["AWS_SESSION_TOKEN"],
            region_name=self.region,
        )
        self.stack = create_stack(self._session, region=self.region, endpoint_url=self.endpoint)
        provision.shorten_visibility(self)
        self.host = FunctionHost(self.options.handler_log)
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        self._config_copy = provision.install_config(Path(self.options.config_path), self.options.state_dir)
        self.network = provision.provision_network(self, self._config_copy)
        provision.sync_schedules(self, self._config_copy, self.host.out)
        moto_hooks.install(self.region, self.ecs)
        self.pump = Pump(self, self.stack, self.host, provision.capture_sns(self))
        if self.options.slack:
            from dockhand_local.slack import LoopbackSlack

            self.slack = LoopbackSlack().start()
            provision.point_slack_secret(self, Path(self.options.config_path), self.slack)
        from dockhand_local.control import ControlServer

        self.control = ControlServer(self, port=self.options.control_port).start()
        # The local clock starts (at --clock-start) once the stack is ready, however long building it took.
        self.clock.start()
        self.timers.start()
        self.schedules = ScheduleFirer(self)
        self._write_state()
        self.note("runtime", f"moto on {self.endpoint}, control on {self.control.url}")
        if self.options.pump:
            self._spawn(self.schedules.run, "scheduler")
            self._spawn(self.pump.run, "pump")
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.timers.stop()
        if self.control:
            self.control.stop()
        if self.slack:
            with suppress(Exception):
                self.slack.stop()
        if self._server:
            self._server.stop()
        if self.host:
            self.host.close()
        with suppress(FileNotFoundError):
            self.state_file.unlink()
        self.clock.stop()

    def __enter__(self) -> Runtime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def state_file(self) -> Path:
        return self.options.state_dir / "local.json"

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=f"dockhand-local-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _write_state(self) -> None:
        self.options.state_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "endpoint": self.endpoint,
            "control_port": self.control.port,
            "control_url": self.control.url,
            "region": self.region,
            "pid": os.getpid(),
        }
        self.state_file.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")

    def _timer_failed(self, exc: BaseException) -> None:
        self.errors.append(f"{type(exc).__name__}: {exc}")
        self.note("error", f"{type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------------------------------ services
    def client(self, service: str) -> Any:
        with self.lock:
            if service not in self._clients:
                self._clients[service] = self._session.client(service, endpoint_url=self.endpoint)
            return self._clients[service]

    def note(self, kind: str, text: str, **data: Any) -> TimelineEntry:
        entry = TimelineEntry(
            datetime.now(UTC).isoformat(timespec="milliseconds"), iso(self.clock.now()), kind, text, data
        )
        with self.lock:
            self.timeline.append(entry)
        return entry

    def function_env(self, logical_id: str) -> dict[str, str]:
        """The environment one function sees: template.yaml's (Globals + own), pointed at the local endpoint."""
        assert self.stack is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DOCKHAND_", "POWERTOOLS_"))}
        env.update(self.stack.env_for(logical_id))
        env.update(CREDENTIALS)
        env.update(
            {
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_LAMBDA_FUNCTION_NAME": self.stack.physical.get(logical_id, logical_id),
                "DOCKHAND_CONFIG": str(self._config_copy),
            }
        )
        return env

    def emit(self, source: str, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None) -> str:
        """Put one event on moto's default bus, as the AWS service would (the template's rules route it)."""
        response = self.client("events").put_events(
            Entries=[
                {
                    "Source": source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "Resources": resources or [],
                    "Time": self.clock.now(),
                }
            ]
        )
        entry = response["Entries"][0]
        if "ErrorCode" in entry:
            self.errors.append(f"put_events {detail_type}: {entry['ErrorCode']}")
        return str(entry.get("EventId", ""))

    def put_event(self, event: dict[str, Any]) -> str:
        """Put a whole sample event (events/*.json shape) on the bus."""
        return self.emit(event["source"], event["detail-type"], event["detail"], event.get("resources"))

    # ------------------------------------------------------------------------------------------ driving
    def stop_tasks(self, cluster: str, **kwargs: Any) -> list[str]:
        """Inject `ECS Task State Change` STOPPED for tasks of a service (its current revision) or a family."""
        return self.ecs.stop_tasks(cluster, **kwargs)

    def fail_next_deploy(self, service: str, count: int = 1) -> None:
        self.ecs.fail_next_deploy(service, count)

    def plan_job_exit_codes(self, job: str, codes: list[int]) -> None:
        self.ecs.plan_job_exit_codes(job, codes)

    def fire_due_schedules(self) -> int:
        """Send the Input of every schedule due on the local clock to its target queue; return how many fired."""
        assert self.schedules is not None
        return self.schedules.fire_due()

    def deliver_pending(self, max_rounds: int = 50) -> int:
        """Receive from every function queue (and the SNS capture) and hand batches to the handlers."""
        assert self.pump is not None
        return self.pump.deliver_pending(max_rounds)

    # ------------------------------------------------------------------------------------------ views
    @property
    def deliveries(self) -> list[Delivery]:
        return self.pump.deliveries if self.pump else []

    def messages(self) -> dict[str, list[dict[str, Any]]]:
        slack = list(self.slack.messages) if self.slack is not None else []
        with self.lock:
            return {"slack": slack, "sns": list(self.pump.sns_messages) if self.pump else []}

    def timeline_dicts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [e.as_dict() for e in self.timeline]


def read_state(path: Path = STATE_FILE) -> dict[str, Any]:
    """What a running `dockhand local up` wrote: endpoint, control port/url, region."""
    return json.loads(path.read_text(encoding="utf-8"))
