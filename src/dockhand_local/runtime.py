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
import secrets
import shutil
import threading
import time
import urllib.request
import warnings
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dockhand_local import moto_hooks, provision
from dockhand_local.accounts import Accounts, Place, keep_forwarded_envelopes, places
from dockhand_local.clock import LocalClock, Timers, iso
from dockhand_local.ecs_sim import EcsSimulator, JobExit
from dockhand_local.host import FunctionHost
from dockhand_local.pump import Delivery, Pump
from dockhand_local.sample import SERVICE, Sample, create_sample
from dockhand_local.schedules import ScheduleFirer
from dockhand_local.stack import ACCOUNT, LOCAL_CONTROL_OUTPUT, STACK_NAME, Stack, create_stack

__all__ = ["STATE_FILE", "Delivery", "Runtime", "RuntimeOptions", "TimelineEntry", "read_state"]

STATE_FILE = Path(".dockhand/local.json")
CHANNELS = ("slack", "sns")
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
    stack_name: str = STACK_NAME  # the CloudFormation stack the CLI finds (DOCKHAND_STACK)
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
        self.signing_secret = secrets.token_hex(16)  # the local Slack app's: it signs presses, the approver checks
        self.down: set[str] = set()  # notification channels in an outage: "slack", "sns"
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
        self._managed_policies = False  # moto's setting before this runtime started
        self.accounts: Accounts | None = None
        self.places: list[Place] = []  # the workload accounts' (account, Region)s the declarations name
        self._restore_forwarding: Callable[[], None] | None = None

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
        # AWS managed policies exist in every account (the guide's task execution role attaches one); moto makes
        # them only when its process-wide config asks, which `stop()` puts back.
        self._managed_policies = moto_hooks.load_aws_managed_policies(True)
        # moto's backends are process-wide: a runtime starts from an empty world even if one ran here before.
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=30)
        self._session = boto3.Session(
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=CREDENTIALS["AWS_SESSION_TOKEN"],
            region_name=self.region,
        )
        from dockhand_local.control import ControlServer

        # The control API is bound first: its URL is one of the stack's outputs (the CLI reads the clock there).
        self.control = ControlServer(self, port=self.options.control_port)
        self.stack = create_stack(
            self._session,
            region=self.region,
            endpoint_url=self.endpoint,
            name=self.options.stack_name,
            extra_outputs={LOCAL_CONTROL_OUTPUT: self.control.url},
            function_urls=self.control.url,
        )
        provision.shorten_visibility(self)
        self.host = FunctionHost(self.options.handler_log)
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        self._config_copy = provision.install_config(Path(self.options.config_path), self.options.state_dir)
        self.network = provision.provision_network(self, self._config_copy)
        try:
            provision.sync_schedules(self, self._config_copy, self.host.out)
        except Exception as exc:  # the runtime still serves deploys and watch without schedules
            self.errors.append(f"schedule sync: {type(exc).__name__}: {exc}")
            self.note("error", f"job schedules not created: {type(exc).__name__}: {exc}")
        moto_hooks.install(self.region, self.ecs, sns_down=lambda: "sns" in self.down)
        self.accounts = Accounts(self._session, self.endpoint, self.region)
        self._restore_forwarding = keep_forwarded_envelopes()
        self._provision_places(self._config_copy)
        self.pump = Pump(self, self.stack, self.host, provision.capture_sns(self))
        if self.options.slack:
            from dockhand_local.slack import LoopbackSlack

            self.slack = LoopbackSlack(on_message=self._on_slack).start()
            provision.point_slack_secret(self, Path(self.options.config_path), self.slack)
        self.control.start()
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
        if self._restore_forwarding:
            self._restore_forwarding()
        if self._server:
            self._server.stop()
            moto_hooks.load_aws_managed_policies(self._managed_policies)
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
            "stack": self.options.stack_name,
            "pid": os.getpid(),
        }
        self.state_file.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")

    def _timer_failed(self, exc: BaseException) -> None:
        self.errors.append(f"{type(exc).__name__}: {exc}")
        self.note("error", f"{type(exc).__name__}: {exc}")

    def _provision_places(self, config: Path) -> None:
        """The workload accounts the file names that are not set up yet: their workload stack, their ECS hooked."""
        assert self.accounts is not None
        made = {(q.account, q.region) for q in self.places}
        new = [p for p in places(config) if (p.account, p.region) not in made]
        if not new:
            return
        for line in self.accounts.deploy_workload_stacks(new):
            self.note("runtime", f"workload account {line}")
        moto_hooks.install_ecs(self.ecs, tuple((p.account, p.region) for p in new))
        self.places += new

    # ------------------------------------------------------------------------------------------ services
    def client(self, service: str, account: str | None = None, region: str | None = None) -> Any:
        """A client of the runtime's account and Region, or (naming them) of a workload account's Region."""
        if account is not None or region is not None:
            assert self.accounts is not None
            return self.accounts.client(service, account or ACCOUNT, region or self.region)
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
        return self.emit_many(source, detail_type, [(detail, resources or [])])[0]

    def emit_many(self, source: str, detail_type: str, events: list[tuple[dict[str, Any], list[str]]]) -> list[str]:
        """Put events of one kind on the bus, ten to a PutEvents call (its limit); return their ids. An event of a
        workload account's resource (one the declarations name) is put on that account's bus in its Region: the
        workload-account template's rule forwards it to Dockhand's, as on AWS. Any other goes on Dockhand's bus."""
        ids: dict[int, str] = {}
        by_place: dict[tuple[str | None, str | None], list[int]] = {}
        known = {(p.account, p.region) for p in self.places}
        for i, (_detail, resources) in enumerate(events):
            place = _place_of(resources)
            by_place.setdefault(place if place in known else (None, None), []).append(i)
        for (account, region), indexes in by_place.items():
            events_client = self.client("events", account, region) if account else self.client("events")
            for start in range(0, len(indexes), 10):
                chunk = indexes[start : start + 10]
                entries = [
                    {
                        "Source": source,
                        "DetailType": detail_type,
                        "Detail": json.dumps(events[i][0]),
                        "Resources": events[i][1],
                        "Time": self.clock.now(),
                    }
                    for i in chunk
                ]
                for i, entry in zip(chunk, events_client.put_events(Entries=entries)["Entries"], strict=True):
                    if "ErrorCode" in entry:
                        self.errors.append(f"put_events {detail_type}: {entry['ErrorCode']}")
                    ids[i] = str(entry.get("EventId", ""))
        return [ids[i] for i in range(len(events))]

    def put_event(self, event: dict[str, Any]) -> str:
        """Put a whole sample event (events/*.json shape) on the bus."""
        return self.emit(event["source"], event["detail-type"], event["detail"], event.get("resources"))

    # ------------------------------------------------------------------------------------------ driving
    def stop_tasks(self, cluster: str, **kwargs: Any) -> list[str]:
        """Inject `ECS Task State Change` STOPPED for tasks of a service (its current revision) or a family."""
        return self.ecs.stop_tasks(cluster, **kwargs)

    def fail_next_deploy(self, service: str, count: int = 1) -> None:
        self.ecs.fail_next_deploy(service, count)

    def plan_job_exits(self, job: str, exits: list[JobExit | int | str]) -> None:
        """How the job's next tasks end: exit codes, each with a run time on the local clock (`1:20m`) or not."""
        self.ecs.plan_job_exits(job, [e if isinstance(e, JobExit) else JobExit.parse(str(e)) for e in exits])

    def channel_down(self, channel: str, seconds: float | None = None) -> None:
        """An outage of `channel` ("slack" or "sns"): every delivery fails until `channel_up`, or for `seconds`
        of the local clock."""
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}: expected one of {', '.join(CHANNELS)}")
        with self.lock:
            self.down.add(channel)
        if channel == "slack" and self.slack is not None:
            self.slack.set_down(True)
        until = f"for {seconds / 60:g} min of the local clock" if seconds else "until `dockhand local channel-up`"
        self.note("control", f"{channel} is down {until}")
        if seconds:
            self.timers.at(self.clock.now() + timedelta(seconds=seconds), lambda: self.channel_up(channel))

    def channel_up(self, channel: str) -> None:
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}: expected one of {', '.join(CHANNELS)}")
        with self.lock:
            was_down = channel in self.down
            self.down.discard(channel)
        if channel == "slack" and self.slack is not None:
            self.slack.set_down(False)
        if was_down:
            self.note("control", f"{channel} is up again")

    def _on_slack(self, message: dict[str, Any] | None) -> None:
        if message is None:
            self.note("slack", "Slack refused a request (down)")
            return
        text = str(message.get("text") or "").strip().splitlines()
        where = f" in {message['channel']}" if message.get("channel") else ""
        thread = " (thread)" if message.get("thread_ts") else ""
        self.note("slack", f"Slack {message['kind']}{where}{thread}: {text[0] if text else ''}")

    def call_function_url(
        self, method: str, path: str, headers: dict[str, str], body: bytes, host: str
    ) -> tuple[int, dict[str, str], bytes]:
        """An HTTP request to `/fn/<LogicalId>/…`: the function's handler gets the function URL event and its answer
        goes back as Lambda's function URL would send it (an error: 502, as Lambda answers)."""
        from dockhand_local.function_urls import function_of, http_answer, url_event

        assert self.stack is not None and self.host is not None
        logical, _path = function_of(path)
        fn = self.stack.functions.get(logical)
        if fn is None or not fn.url:
            return (
                404,
                {"Content-Type": "application/json"},
                json.dumps({"Message": f"no function URL {logical}"}).encode(),
            )
        event = url_event(method, path, headers, body, host)
        try:
            result = self.host.invoke(fn, event, self.function_env(logical), self.stack.arns[logical])
        except Exception as exc:
            self.note("handler", f"{logical} raised {type(exc).__name__}: {exc}", function=logical)
            self.errors.append(f"{logical}: {type(exc).__name__}: {exc}")
            return 502, {"Content-Type": "application/json"}, b'{"Message":"Internal Server Error"}'
        status, out_headers, data = http_answer(result)
        self.note("handler", f"{logical}: {method} {_path} -> {status}", function=logical)
        return status, out_headers, data

    def press(self, decision: str, user: str = "") -> tuple[int, str]:
        """The loopback Slack presses Approve or Reject on the newest approval request, as `user` (default: the
        first Slack user id among the approvers of that stage), signed with the local app's signing secret, at the
        approver's function URL (the stack's ApproverUrl output). Returns the status and the answer's text."""
        from dockhand.config import load_config

        if decision not in ("approve", "reject"):
            raise ValueError(f"decision {decision!r}: expected approve or reject")
        assert self.stack is not None and self._config_copy is not None
        if self.slack is None:
            raise ValueError("the runtime runs without its loopback Slack (--no-slack)")
        from dockhand.state.promotions import PromotionRecord

        channel, ts, key = self.slack.newest_with_action(f"dockhand_{decision}")
        repository, _digest, stage = PromotionRecord.split_key(key)
        if not user:
            config = load_config(self._config_copy)
            approvers = [
                a
                for t in config.deploy.stage_targets(repository, stage)
                if t.approval is not None
                for a in t.approval.approvers
                if a.startswith("U")
            ]
            if not approvers:
                raise ValueError(f"stage {stage!r} of {repository!r} declares no Slack user among its approvers")
            user = approvers[0]
        status, answer = self.slack.press(
            self.stack.outputs["ApproverUrl"], channel, ts, f"dockhand_{decision}", user, self.signing_secret
        )
        text = json.loads(answer).get("text", answer) if answer.startswith("{") else answer
        self.note("slack", f"{user} pressed {decision.title()} on {repository} → {stage}: {status} {text}")
        return status, str(text)

    def fire_due_schedules(self) -> int:
        """Send the Input of every schedule due on the local clock to its target queue; return how many fired."""
        assert self.schedules is not None
        return self.schedules.fire_due()

    def deliver_pending(self, max_rounds: int = 50) -> int:
        """Receive from every function queue (and the SNS capture) and hand batches to the handlers."""
        assert self.pump is not None
        return self.pump.deliver_pending(max_rounds)

    def deploy_config(self, source: Path) -> list[str]:
        """What `sam deploy` does with a changed declarations file: the functions read the new file from their next
        invocation on (a new config layer), the networks it names are made (ids that exist are kept) and the
        jobs' schedules follow it (created, updated, deleted). Returns what was deployed, then what changed."""
        from dockhand.config import load_config

        config = load_config(source)  # an invalid file raises ConfigError, naming the field; nothing changes
        assert self._config_copy is not None and self.host is not None
        with self.lock:
            staged = self._config_copy.with_name(f".{self._config_copy.name}.deploying")
            shutil.copyfile(source, staged)
            self.network = provision.provision_network(self, staged, self.network) or self.network
            self._provision_places(staged)
            os.replace(staged, self._config_copy)  # a handler reads the old file or the new one, never half of one
            report = provision.sync_schedules(self, self._config_copy, self.host.out)
            if self.slack is not None:
                provision.point_slack_secret(self, self._config_copy, self.slack)
        self.note("runtime", f"deployed {source}")
        lines = [f"{len(config.deploy.targets)} deploy target(s), {len(config.jobs)} job(s)"]
        lines += [f"job schedules {what}: {', '.join(names)}" for what, names in report.as_dict().items() if names]
        return lines

    def create_sample(self) -> Sample:
        """The sample world of config/dockhand.yaml (repositories, cluster, task definitions, service web)."""
        sample = create_sample(self.client, self.network)
        self.note("runtime", f"sample made: service {SERVICE} on {sample.task_definition.rsplit('/', 1)[-1]}")
        return sample

    def busy(self) -> list[str]:
        """What is still moving: messages to deliver, deployments finishing (empty: the runtime is idle)."""
        out = self.pump.busy() if self.pump else []
        if pending := self.timers.pending():
            out.append(f"{pending} deployment step(s) or task end(s) due")
        if self.schedules and (due := self.schedules.due_now()):
            out.append(f"{due} schedule(s) due")
        return out

    def wait_idle(self, timeout: float = 60.0, settle: float = 0.3) -> list[str]:
        """Wait until nothing is moving (twice in a row, `settle` wall seconds apart); return what still moves
        when `timeout` runs out (empty: idle). Events the local clock will bring later are not waited for."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while True:
            busy = self.busy()
            quiet = 0 if busy else quiet + 1
            if quiet >= 2 or time.monotonic() >= deadline:
                return busy
            time.sleep(settle)

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


def _place_of(resources: list[str]) -> tuple[str | None, str | None]:
    """(account, Region) of the first resource ARN when it is not the runtime's own account; (None, None) else."""
    parts = resources[0].split(":") if resources else []
    if len(parts) >= 6 and parts[4] and parts[4] != ACCOUNT:
        return parts[4], parts[3]
    return None, None


def read_state(path: Path = STATE_FILE) -> dict[str, Any]:
    """What a running `dockhand local up` wrote: endpoint, control port/url, region, stack."""
    return json.loads(path.read_text(encoding="utf-8"))


def client_environment(state: dict[str, Any]) -> dict[str, str]:
    """What a client needs to use a running runtime: its endpoint, any credentials, the Region under both names
    (the aws CLI and boto3 read AWS_DEFAULT_REGION, other SDKs AWS_REGION), and the stack the CLI finds."""
    return {
        "AWS_ENDPOINT_URL": str(state["endpoint"]),
        "AWS_ACCESS_KEY_ID": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "AWS_DEFAULT_REGION": str(state["region"]),
        "AWS_REGION": str(state["region"]),
        "DOCKHAND_STACK": str(state.get("stack", STACK_NAME)),
    }


def export_line(state: dict[str, Any]) -> str:
    """`export NAME=value …` for a POSIX shell (what `dockhand local env` prints for `eval`)."""
    import shlex

    return "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in client_environment(state).items())
