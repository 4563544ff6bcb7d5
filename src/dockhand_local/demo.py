"""`make demo`: the whole story on a local runtime, each step checked against the real state.

The story (config/dockhand.yaml: repository web, cluster demo, service web, job nightly-report):
push 1.1.0 → new revision, staging's service updated, deploy completed, Slack message updated; staging bakes, an
approval is asked in Slack, the local Slack presses Approve → the same digest runs in production; push 1.0.9 →
skipped as older; a bad release crash-loops → one alert, one summary, and its walk to production stops at the
bake; a circuit-breaker rollback → failure reported,
digest held; a scheduled job fails, is retried, succeeds. Checks read moto, the loopback Slack and the captured
SNS deliveries — never the runtime's own bookkeeping — and the exit code says whether every step happened.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from dockhand.state.deployments import Holds
from dockhand.state.table import Table
from dockhand_local.images import image_manifest
from dockhand_local.runtime import Runtime, RuntimeOptions
from dockhand_local.sample import (
    CLUSTER,
    FIRST_TAG,
    JOB,
    PROD_ACCOUNT,
    PROD_CLUSTER,
    PROD_REGION,
    REPOSITORY,
    SERVICE,
    SIDECAR_IMAGE,
    create_sample,
)

WAIT = 15.0  # wall seconds a check may take before it is declared missing


@dataclass
class Check:
    step: str
    what: str
    ok: bool
    detail: str = ""


@dataclass
class World:
    repository_uri: str = ""
    subnet: str = ""
    security_group: str = ""
    revisions: dict[str, str] = field(default_factory=dict)  # tag -> task-definition ARN
    digests: dict[str, str] = field(default_factory=dict)  # tag -> digest


class Demo:
    def __init__(self, runtime: Runtime, console: Console) -> None:
        self.rt = runtime
        self.console = console
        self.checks: list[Check] = []
        self.world = World()
        self._shown = 0
        self._step = ""

    # ------------------------------------------------------------------------------------------ plumbing
    def c(self, service: str, account: str | None = None, region: str | None = None) -> Any:
        return self.rt.client(service, account, region)

    def show_timeline(self) -> None:
        entries = self.rt.timeline[self._shown :]
        self._shown += len(entries)
        for entry in entries:
            if entry.kind in ("handler",) and "record(s)" in entry.text and "retry" not in entry.text:
                continue
            style = {
                "ecr": "cyan",
                "ecs": "blue",
                "sns": "green",
                "slack": "magenta",
                "scheduler": "yellow",
                "error": "red",
            }.get(entry.kind, "white")
            self.console.print(
                f"  [dim]{entry.clock[11:19]}[/dim] [{style}]{entry.kind:<9}[/{style}] {entry.text}", highlight=False
            )

    def step(self, title: str) -> None:
        self.show_timeline()
        self._step = title
        self.console.rule(f"[bold]{title}")

    def wait_for(self, what: str, probe: Callable[[], Any], timeout: float = WAIT) -> Any:
        """Poll `probe` until it returns something truthy; record the check either way."""
        deadline = time.monotonic() + timeout
        value: Any = None
        error = ""
        while time.monotonic() < deadline:
            try:
                value = probe()
                error = ""
            except Exception as exc:  # a probe may read state that is not there yet
                value, error = None, f"{type(exc).__name__}: {exc}"
            if value:
                break
            self.show_timeline()
            time.sleep(0.1)
        self.show_timeline()
        ok = bool(value)
        self.checks.append(Check(self._step, what, ok, error))
        mark = "[green]✓[/green]" if ok else "[red]✗[/red]"
        self.console.print(f"  {mark} {what}" + (f" [dim]({error})[/dim]" if error and not ok else ""), highlight=False)
        return value

    def settle(self, seconds: float = 0.6) -> None:
        """Let the pump deliver what is in flight (used before checking that something did NOT happen)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.show_timeline()
            time.sleep(0.1)

    # ------------------------------------------------------------------------------------------ state views
    def service(self) -> dict[str, Any]:
        return self.c("ecs").describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]

    def production_image(self) -> str:
        """What production (the production account, eu-west-1) runs, read there."""
        ecs = self.rt.client("ecs", PROD_ACCOUNT, PROD_REGION)
        service = ecs.describe_services(cluster=PROD_CLUSTER, services=[SERVICE])["services"][0]
        return self.image_of(service["taskDefinition"], ecs=ecs)

    def production_completed(self) -> bool:
        """The watcher recorded production's deployment (in the production account, eu-west-1) as COMPLETED."""
        from dockhand.state.deployments import Deployments
        from dockhand.state.ledger import Ledger

        arn = f"arn:aws:ecs:{PROD_REGION}:{PROD_ACCOUNT}:service/{PROD_CLUSTER}/{SERVICE}"
        row = Ledger(self.table()).read(arn)
        record = Deployments(self.table()).get(row.deployment_id) if row.deployment_id else None
        return record is not None and record.status == "COMPLETED"

    def image_of(self, task_definition: str, container: str = "web", ecs: Any = None) -> str:
        td = (ecs or self.c("ecs")).describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
        return next(c["image"] for c in td["containerDefinitions"] if c["name"] == container)

    def revisions(self) -> list[str]:
        return self.c("ecs").list_task_definitions(familyPrefix=SERVICE)["taskDefinitionArns"]

    def notes(self) -> list[str]:
        """Every notification text seen so far (Slack posts/updates and SNS), lower-cased for matching."""
        out = []
        messages = self.rt.messages()
        for m in messages["slack"]:
            out.append(f"slack:{m.get('kind')}:" + (m.get("text") or "") + json.dumps(m.get("blocks") or []))
        for m in messages["sns"]:
            out.append("sns::" + json.dumps(m.get("message"), default=str))
        return [n.lower() for n in out]

    def sns_titles(self) -> list[str]:
        titles = []
        for m in self.rt.messages()["sns"]:
            body = m.get("message")
            content = body.get("content", {}) if isinstance(body, dict) else {}
            titles.append(str(content.get("title") or body).lower())
        return titles

    def sns_kinds(self) -> list[str]:
        """The notification kind of each SNS delivery (the custom notification's metadata.eventType)."""
        kinds = []
        for m in self.rt.messages()["sns"]:
            body = m.get("message")
            metadata = body.get("metadata", {}) if isinstance(body, dict) else {}
            kinds.append(str(metadata.get("eventType", "")))
        return kinds

    def slack(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.rt.messages()["slack"] if kind is None or m.get("kind") == kind]

    def table(self) -> Any:
        assert self.rt.stack is not None
        resource = self.rt._session.resource("dynamodb", endpoint_url=self.rt.endpoint)
        return Table(resource, self.rt.stack.table_name)

    # ------------------------------------------------------------------------------------------ the world
    def build_world(self) -> None:
        self.step("The world: ECR repository web, cluster demo, service web (2 tasks), job nightly-report")
        sample = create_sample(self.c, self.rt.network)
        self.world.repository_uri = sample.repository_uri
        self.world.subnet, self.world.security_group = sample.subnet, sample.security_group
        self.world.revisions[FIRST_TAG] = sample.task_definition
        self.console.print(
            f"  service {CLUSTER}/{SERVICE} runs {sample.task_definition.rsplit('/', 1)[-1]} "
            f"({REPOSITORY}:{FIRST_TAG} + a {SIDECAR_IMAGE.split('/')[-1]} sidecar)",
            highlight=False,
        )

    def push(self, tag: str) -> str:
        """`docker push`, as ECR records it: PutImage with a manifest whose layers make the digest unique."""
        image = self.c("ecr").put_image(
            repositoryName=REPOSITORY, imageManifest=image_manifest(f"{REPOSITORY}:{tag}"), imageTag=tag
        )["image"]
        digest = image["imageId"]["imageDigest"]
        self.world.digests[tag] = digest
        return digest

    # ------------------------------------------------------------------------------------------ the story
    def deploy_step(self) -> None:
        self.step("Push web:1.1.0 → new revision pinned by digest, service updated, deploy completed")
        before = self.service()["taskDefinition"]
        digest = self.push("1.1.0")
        pinned = f"{self.world.repository_uri}@{digest}"

        def new_revision() -> str | None:
            current = self.service()["taskDefinition"]
            return current if current != before and self.image_of(current) == pinned else None

        revision = self.wait_for(f"service {SERVICE} runs a new revision with web@{digest[:19]}…", new_revision)
        if revision:
            self.world.revisions["1.1.0"] = revision
            self.wait_for(
                "the log-router sidecar kept its image", lambda: self.image_of(revision, "log-router") == SIDECAR_IMAGE
            )

        def completed() -> bool:
            deployments = self.service()["deployments"]
            return (
                len(deployments) == 1
                and deployments[0]["taskDefinition"] == revision
                and deployments[0].get("rolloutState") == "COMPLETED"
            )

        self.wait_for("the deployment completed (ECS deployment state)", completed)
        self.wait_for(
            "a Slack message was posted and then updated with the outcome",
            lambda: self.slack("post") and self.slack("update"),
        )

    def promotion_step(self) -> None:
        self.step(
            "Promote web:1.1.0 → bake in staging (10 min) → approval in Slack → pressed → production deployed "
            f"(account {PROD_ACCOUNT}, {PROD_REGION})"
        )
        digest = self.world.digests["1.1.0"]
        pinned = f"{self.world.repository_uri}@{digest}"
        self.wait_for(
            f"production ({PROD_CLUSTER}/{SERVICE}) still runs {FIRST_TAG} while staging bakes",
            lambda: self.production_image().endswith(f":{FIRST_TAG}"),
            timeout=1,
        )

        def request() -> list[dict[str, Any]]:
            return [
                m
                for m in self.slack("post")
                if "approval to production" in (m.get("text") or "") and "dockhand_approve" in json.dumps(m)
            ]

        self.wait_for(
            "after a clean bake, an approval request with Approve / Reject buttons was posted in Slack",
            request,
            timeout=WAIT * 2,
        )
        self.settle()
        self.wait_for(
            "production was not deployed before anyone approved",
            lambda: self.production_image().endswith(f":{FIRST_TAG}"),
            timeout=1,
        )
        completions = self.sns_kinds().count("deploy_completed")
        status, answer = self.rt.press("approve")
        self.console.print(f"  the local Slack pressed Approve as U0RELEASE: {status} {answer}", highlight=False)
        self.wait_for("the approver's function URL took the signed press (200)", lambda: status == 200, timeout=1)
        self.wait_for(
            f"production ({PROD_CLUSTER}/{SERVICE} in {PROD_ACCOUNT}, {PROD_REGION}) runs the same digest "
            f"web@{digest[:19]}…",
            lambda: self.production_image() == pinned,
        )
        self.wait_for(
            "production's deployment completed: its ECS event came from the production account's bus, forwarded by "
            "the workload account's rule",
            lambda: self.production_completed() and self.sns_kinds().count("deploy_completed") > completions,
        )
        self.wait_for(
            "the approval message lost its buttons (answered in place)",
            lambda: any(
                m.get("kind") == "update" and "dockhand_approve" not in json.dumps(m) and "approved" in json.dumps(m)
                for m in self.slack()
            ),
        )

    def skip_step(self) -> None:
        self.step("Push web:1.0.9 → skipped: older than what runs")
        revisions = len(self.revisions())
        current = self.service()["taskDefinition"]
        self.push("1.0.9")
        self.wait_for(
            "a notification says 1.0.9 was skipped", lambda: any("1.0.9" in n and "skip" in n for n in self.notes())
        )
        self.settle()
        self.wait_for(
            "no revision registered, the service still runs 1.1.0",
            lambda: len(self.revisions()) == revisions and self.service()["taskDefinition"] == current,
            timeout=1,
        )

    def crash_loop_step(self) -> None:
        self.step("A bad release: web:1.2.0 crash-loops (OOM, exit 137) → one alert, one summary")
        self.push("1.2.0")
        self.wait_for(
            "1.2.0 deployed",
            lambda: (
                self.image_of(self.service()["taskDefinition"]).endswith(self.world.digests["1.2.0"])
                and self.service()["deployments"][0].get("rolloutState") == "COMPLETED"
            ),
        )
        before = len(self.sns_titles())
        slack_before = len(self.slack())
        self.rt.stop_tasks(
            CLUSTER,
            service=SERVICE,
            exit_code=137,
            count=6,
            reason="OutOfMemoryError: Container killed due to memory usage",
        )

        def alerts() -> list[str]:
            return [t for t in self.sns_titles()[before:] if "out of memory" in t and "more failure" not in t]

        def summaries() -> list[str]:
            return [t for t in self.sns_titles()[before:] if "more failure" in t]

        self.wait_for("an out-of-memory alert was sent", alerts)
        self.wait_for(
            "one summary when the crash-loop window closed (10 min on the local clock)", summaries, timeout=WAIT * 2
        )
        self.settle()
        self.wait_for(
            "exactly one alert and one summary for six stopped tasks",
            lambda: len(alerts()) == 1 and len(summaries()) == 1,
            timeout=1,
        )

        def slack_thread() -> bool:
            posts = [m for m in self.slack()[slack_before:] if m.get("kind") == "post"]
            alert = [m for m in posts if "out of memory" in (m.get("text") or "") and not m.get("thread_ts")]
            summary = [m for m in posts if "more failure" in (m.get("text") or "")]
            return len(alert) == 1 and len(summary) == 1 and summary[0].get("thread_ts") == alert[0].get("ts")

        self.wait_for("in Slack: one alert, and the summary in its thread", slack_thread, timeout=1)
        self.wait_for(
            "the walk to production stopped at staging's bake, saying why (a task failed during the bake)",
            lambda: any("1.2.0" in n and "not promoted to production" in n and "fail" in n for n in self.notes()),
            timeout=WAIT * 2,
        )
        self.wait_for(
            "production still runs 1.1.0",
            lambda: self.production_image().endswith(self.world.digests["1.1.0"]),
            timeout=1,
        )

    def rollback_step(self) -> None:
        self.step("web:1.3.0 fails to start → circuit-breaker rollback, failure reported, digest held")
        self.rt.fail_next_deploy(SERVICE)
        previous = self.service()["taskDefinition"]
        revisions = len(self.revisions())
        before = len(self.sns_titles())
        digest = self.push("1.3.0")
        self.wait_for("a revision with 1.3.0 was registered and rolled out", lambda: len(self.revisions()) > revisions)
        self.wait_for(
            "ECS rolled the service back to the previous revision",
            lambda: (
                self.service()["taskDefinition"] == previous
                and self.service()["deployments"][0]["taskDefinition"] == previous
            ),
        )
        self.wait_for(
            "the rollback was reported as a failure",
            lambda: any("1.3.0" in t and ("rolled back" in t or "fail" in t) for t in self.sns_titles()[before:]),
        )
        self.wait_for(
            "no success was reported for 1.3.0",
            lambda: not any("1.3.0" in t and "completed" in t for t in self.sns_titles()[before:]),
            timeout=1,
        )
        # The rollback deployment's own IN_PROGRESS event carries a deploymentId the ledger does not know:
        # counted by kind, not by tag, so a second alert for it would show here.
        self.settle()
        self.wait_for(
            "exactly one failure notification for the rolled-back release",
            lambda: sum(k in ("deploy_rolled_back", "deploy_failed") for k in self.sns_kinds()[before:]) == 1,
            timeout=1,
        )

        def held() -> bool:
            return Holds(self.table()).get(REPOSITORY, digest) is not None

        self.wait_for(f"the digest {digest[:19]}… is held", held)

    def job_step(self) -> None:
        self.step("Job nightly-report: 02:00 Europe/Berlin on the local clock → exit 1, retried → exit 0")
        self.rt.plan_job_exits(JOB, [1, 0])
        before = len(self.notes())
        due = _next_local(2, "Europe/Berlin", self.rt.clock.now())
        self.rt.clock.set(due - timedelta(seconds=20))
        self.console.print(
            f"  local clock set to {(due - timedelta(seconds=20)).isoformat()} (runs x{self.rt.clock.speed:g})",
            highlight=False,
        )

        def job_tasks() -> list[str]:
            ecs = self.c("ecs")
            arns = {
                *ecs.list_tasks(cluster=CLUSTER)["taskArns"],
                *ecs.list_tasks(cluster=CLUSTER, desiredStatus="STOPPED")["taskArns"],
            }
            tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=sorted(arns))["tasks"] if arns else []
            return [t["taskArn"] for t in tasks if str(t.get("startedBy", "")).startswith(f"dockhand-job/{JOB}")]

        self.wait_for("the schedule fired and the job's task was started", job_tasks)
        self.wait_for(
            "the failed attempt was retried: a second task ran", lambda: len(job_tasks()) >= 2, timeout=WAIT * 2
        )
        self.wait_for(
            "the run is reported as a success after the retry",
            lambda: any(JOB in n and ("succe" in n) for n in self.notes()[before:]),
        )

    def run(self) -> int:
        started = time.monotonic()
        steps = [
            self.deploy_step,
            self.promotion_step,
            self.skip_step,
            self.crash_loop_step,
            self.rollback_step,
            self.job_step,
        ]
        self.build_world()
        for step in steps:
            try:
                step()
            except Exception as exc:  # a step that blows up is a step that did not happen
                self.checks.append(Check(self._step, f"the step ran ({type(exc).__name__}: {exc})", False))
                self.console.print(f"  [red]✗ {type(exc).__name__}: {exc}[/red]", highlight=False)
        self.show_timeline()
        record = self.rt.options.state_dir / "demo-record.json"
        record.write_text(
            json.dumps({"messages": self.rt.messages(), "timeline": self.rt.timeline_dicts()}, indent=2, default=str),
            encoding="utf-8",
        )
        return self.summary(time.monotonic() - started)

    def summary(self, seconds: float) -> int:
        self.console.rule("[bold]Summary")
        failed = [c for c in self.checks if not c.ok]
        steps: dict[str, list[Check]] = {}
        for check in self.checks:
            steps.setdefault(check.step, []).append(check)
        for title, checks in steps.items():
            ok = all(c.ok for c in checks)
            mark = "[green]✓[/green]" if ok else "[red]✗[/red]"
            self.console.print(f"{mark} {title} ({sum(c.ok for c in checks)}/{len(checks)} checks)", highlight=False)
        messages = self.rt.messages()
        self.console.print(
            f"{len(self.checks) - len(failed)}/{len(self.checks)} checks passed in {seconds:.1f} s; "
            f"{len(messages['slack'])} Slack message(s), {len(messages['sns'])} SNS deliveries",
            highlight=False,
        )
        if failed:
            for check in failed:
                self.console.print(f"[red]did not happen:[/red] {check.step}: {check.what}", highlight=False)
            return 1
        self.console.print("[green bold]demo complete: every step happened[/green bold]")
        return 0


def _next_local(hour: int, zone: str, after: datetime) -> datetime:
    from zoneinfo import ZoneInfo

    local = after.astimezone(ZoneInfo(zone))
    candidate = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(UTC)


def run_demo(config: Path, state_dir: Path, console: Console) -> int:
    """Start a runtime in this process, play the story, print the summary; 0 when every check passed."""
    console.print("[bold]Dockhand demo[/bold]: moto on loopback, the real handlers, a loopback Slack")
    # Noon UTC: the nightly job (02:00 Berlin) fires only when the story jumps the clock to it.
    noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    options = RuntimeOptions(
        config_path=config,
        state_dir=state_dir,
        speed=120.0,
        deploy_delay=0.8,
        job_delay=0.3,
        clock_start=noon,
        handler_log=state_dir / "handlers.log",
    )
    with Runtime(options) as runtime:
        console.print(f"  endpoint {runtime.endpoint}; handler logs in {options.handler_log}", highlight=False)
        return Demo(runtime, console).run()
