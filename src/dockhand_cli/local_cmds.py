"""`dockhand local …`: run the whole of Dockhand on this machine, and drive the running runtime."""

from __future__ import annotations

import json
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

local_app = typer.Typer(no_args_is_help=True, help="Run Dockhand locally: moto on loopback, the real handlers.")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DEFAULT_CONFIG = Path("config/dockhand.yaml")
DEFAULT_STATE_DIR = Path(".dockhand")


def _stdout_console() -> Console:
    """A console bound to stdout now (handlers' output goes to a log file while they run).

    Lines never wrap (`make demo > file` stays one event a line) and, without a terminal, rules and titles
    get 120 columns instead of rich's 80.
    """
    return Console(file=sys.stdout, soft_wrap=True, width=None if sys.stdout.isatty() else 120)


def _utc(text: str) -> datetime:
    """An ISO time; without an offset it is UTC (as every time Dockhand shows)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: expected an ISO time such as 2026-03-02T10:00:00Z", param_hint="--clock-start"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def register(app: typer.Typer) -> None:
    """Add this wing's commands to the root app."""
    app.add_typer(local_app, name="local")


def _state(state_dir: Path) -> dict[str, Any]:
    from dockhand_local.runtime import read_state

    path = state_dir / "local.json"
    if not path.exists():
        err.print(f"no running runtime: {path} not found (start one with `dockhand local up`)", highlight=False)
        raise typer.Exit(2)
    return read_state(path)


def _call(state_dir: Path, path: str, body: dict[str, Any] | None = None, timeout: float = 60) -> Any:
    import urllib.error

    from dockhand_local.control import call

    try:
        return call(_state(state_dir)["control_url"], path, body, timeout=timeout)
    except urllib.error.HTTPError as exc:
        err.print(f"the runtime refused: {exc.read().decode(errors='replace')}", highlight=False)
        raise typer.Exit(1) from None
    except urllib.error.URLError as exc:
        err.print(f"the runtime does not answer ({exc.reason}); is `dockhand local up` still running?")
        raise typer.Exit(2) from None
    except TimeoutError:
        err.print(f"the runtime did not answer {path} within {timeout:g} s; see `dockhand local timeline`")
        raise typer.Exit(1) from None


STOP_TIMEOUT_PER_TASK = 1.0  # wall seconds a stop may take before the command gives up waiting
StateDir = typer.Option(DEFAULT_STATE_DIR, "--state-dir", help="Where the runtime keeps local.json")


@local_app.command()
def up(
    config: Path = typer.Option(DEFAULT_CONFIG, "--config", "-c", help="The declarations file"),
    port: int = typer.Option(0, help="moto's port (0: a free one)"),
    control_port: int = typer.Option(0, help="The control API's port (0: a free one)"),
    region: str = typer.Option("us-east-1"),
    speed: float = typer.Option(60.0, help="How much faster than the wall clock schedules run"),
    clock_start: str = typer.Option(
        "", help="ISO time the local clock starts at once the stack is ready (default: now; no offset: UTC)"
    ),
    deploy_delay: float = typer.Option(1.5, help="Seconds from UpdateService to deployment COMPLETED/FAILED"),
    state_dir: Path = StateDir,
) -> None:
    """Start moto and the stack, deliver events to the real handlers; runs until Ctrl-C."""
    from dockhand_local.runtime import Runtime, RuntimeOptions, export_line, read_state

    options = RuntimeOptions(
        config_path=config,
        region=region,
        port=port,
        control_port=control_port,
        speed=speed,
        clock_start=_utc(clock_start) if clock_start else None,
        deploy_delay=deploy_delay,
        state_dir=state_dir,
        handler_log=state_dir / "handlers.log",
    )
    console = _stdout_console()
    runtime = Runtime(options).start()
    state = read_state(runtime.state_file)
    console.print(
        f"[bold]Dockhand local[/bold]: moto on [cyan]{runtime.endpoint}[/cyan] (region {region}), "
        f'stack {options.stack_name}. In another shell, `eval "$(dockhand local env)"` or:',
        highlight=False,
    )
    console.print(export_line(state), highlight=False, markup=False)
    console.print(
        f"control {runtime.control.url}   state {runtime.state_file}   handler logs {options.handler_log}   "
        "Ctrl-C stops",
        highlight=False,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    shown = 0
    try:
        while not done.wait(0.2):
            entries = runtime.timeline[shown:]
            shown += len(entries)
            for entry in entries:
                console.print(f"[dim]{entry.clock}[/dim] [bold]{entry.kind:<9}[/bold] {entry.text}", highlight=False)
    except KeyboardInterrupt:
        pass
    finally:
        runtime.stop()
        console.print("stopped")


@local_app.command("env")
def env(state_dir: Path = StateDir) -> None:
    """Print the environment that points any AWS client and `dockhand` at the running runtime:
    `eval "$(dockhand local env)"`."""
    from dockhand_local.runtime import export_line

    typer.echo(export_line(_state(state_dir)))


@local_app.command()
def sample(state_dir: Path = StateDir) -> None:
    """Make the sample world config/dockhand.yaml deploys to: repositories web and nightly-report, cluster demo,
    task definitions, and the Fargate service web on web:1.0.0. Then push web:1.1.0 and it deploys."""
    result = _call(state_dir, "/sample", {})
    for line in result["lines"]:
        console.print(line, highlight=False)


@local_app.command("deploy-config")
def deploy_config(
    config: Path = typer.Argument(DEFAULT_CONFIG, help="The declarations file"),
    state_dir: Path = StateDir,
) -> None:
    """Deploy a declarations file to the running runtime, as `sam deploy` does: the functions read it from now on,
    the subnets and security groups it names are made (ids that exist are kept), the jobs' schedules follow it."""
    from dockhand_cli.common import config_or_exit

    config_or_exit(config)  # an invalid file: every problem with its field path, exit 1, nothing deployed
    deployed, *changes = _call(state_dir, "/deploy-config", {"path": str(config.resolve())})["lines"]
    console.print(f"deployed {config}: {deployed}", highlight=False)
    for line in changes:
        console.print(line, highlight=False)


@local_app.command()
def manifest(
    image: str = typer.Argument(..., help="What the image is, e.g. web:1.1.0 (a new text gives a new digest)"),
) -> None:
    """Print an image manifest for `aws ecr put-image --image-manifest file://…`: what `docker push` hands ECR."""
    from dockhand_local.images import image_manifest

    typer.echo(image_manifest(image))


@local_app.command()
def wait(
    timeout: float = typer.Option(60.0, help="Seconds to wait at most"),
    state_dir: Path = StateDir,
) -> None:
    """Return when nothing is moving: every queue delivered, every deployment finished (what the local clock
    brings later, such as a crash-loop window closing or a schedule, is not waited for)."""
    busy = _call(state_dir, "/wait", {"timeout": timeout}, timeout=timeout + 30)["busy"]
    if busy:
        err.print(f"still moving after {timeout:g} s: {'; '.join(busy)}", highlight=False)
        raise typer.Exit(1)
    console.print("idle", highlight=False)


@local_app.command("channel-down")
def channel_down(
    channel: str = typer.Argument(..., help="slack or sns"),
    duration: str = typer.Option("", "--for", help="Recover by itself after this long on the local clock (5m, 1h)"),
    state_dir: Path = StateDir,
) -> None:
    """An outage: every delivery to the channel fails (Slack answers 503, SNS Publish 500) until `channel-up`."""
    from dockhand_local.ecs_sim import parse_duration

    try:
        seconds = parse_duration(duration) if duration else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--for") from None
    down = _call(state_dir, "/channel", {"channel": channel, "down": True, "seconds": seconds})["down"]
    console.print(f"down: {', '.join(down)}" + (f" (for {duration} of the local clock)" if duration else ""))


@local_app.command("channel-up")
def channel_up(channel: str = typer.Argument(..., help="slack or sns"), state_dir: Path = StateDir) -> None:
    """End an outage: deliveries to the channel work again (failed ones are retried from their queue)."""
    down = _call(state_dir, "/channel", {"channel": channel, "down": False})["down"]
    console.print(f"{channel} is up" + (f"; still down: {', '.join(down)}" if down else ""), highlight=False)


@local_app.command("stop-task")
def stop_task(
    cluster: str = typer.Option(..., help="Cluster name"),
    service: str = typer.Option("", help="Stop tasks of this service (its current revision)"),
    family: str = typer.Option("", help="…or standalone tasks of this task-definition family"),
    exit_code: int = typer.Option(1, "--exit-code"),
    reason: str = typer.Option("", help="The container's reason, e.g. 'OutOfMemoryError: Container killed'"),
    count: int = typer.Option(1, min=1),
    started_by: str = typer.Option("", help="startedBy of the stopped tasks (default: the service's deployment)"),
    state_dir: Path = StateDir,
) -> None:
    """Inject `ECS Task State Change` STOPPED events, as ECS would send when tasks die."""
    if bool(service) == bool(family):
        err.print("give exactly one of --service and --family")
        raise typer.Exit(2)
    body = {
        "cluster": cluster,
        "service": service or None,
        "family": family or None,
        "exit_code": exit_code,
        "reason": reason,
        "count": count,
        "started_by": started_by or None,
    }
    result = _call(state_dir, "/stop-task", body, timeout=STOP_TIMEOUT_PER_TASK * count + 60)
    what = f"service {service}" if service else f"family {family}"
    console.print(
        f"stopped {len(result['task_arns'])} task(s) of {what} in {cluster} (exit code {exit_code})", highlight=False
    )


@local_app.command("fail-next-deploy")
def fail_next_deploy(
    service: str = typer.Argument(..., help="Service name"),
    count: int = typer.Option(1, min=1),
    state_dir: Path = StateDir,
) -> None:
    """Make the next deployment(s) of a service fail: circuit breaker, rollback to the previous revision."""
    _call(state_dir, "/fail-next-deploy", {"service": service, "count": count})
    console.print(f"the next {count} deployment(s) of {service} will fail and roll back", highlight=False)


@local_app.command("job-exit-codes")
def job_exit_codes(
    job: str = typer.Argument(..., help="Job name"),
    codes: list[str] = typer.Argument(
        ..., help="How the next task runs end, in order: EXIT_CODE or EXIT_CODE:RUN_TIME (1, 0:90s, 1:20m, 3:1h30m)"
    ),
    state_dir: Path = StateDir,
) -> None:
    """Script how the job's next tasks end: an exit code each, after a run time on the local clock if given
    (else they end shortly). Unscripted tasks exit 0 shortly."""
    from dockhand_local.ecs_sim import JobExit

    try:
        exits = [JobExit.parse(code) for code in codes]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="CODES") from None
    _call(state_dir, "/job-exit-codes", {"job": job, "codes": codes})
    console.print(f"job {job}'s next task(s): {', '.join(map(str, exits))}", highlight=False)


@local_app.command("advance-clock")
def advance_clock(
    seconds: float = typer.Argument(..., help="Seconds to jump the local clock forward"), state_dir: Path = StateDir
) -> None:
    """Jump the local clock (schedules that become due fire)."""
    console.print(f"local clock: {_call(state_dir, '/clock/advance', {'seconds': seconds})['clock']}")


@local_app.command()
def messages(as_json: bool = typer.Option(False, "--json"), state_dir: Path = StateDir) -> None:
    """Slack messages and SNS deliveries the running runtime has seen."""
    result = _call(state_dir, "/messages")
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
        return
    for message in result["slack"]:
        text = message.get("text") or json.dumps(message.get("payload", message), default=str)[:160]
        console.print(f"[magenta]slack[/magenta] {message.get('kind', '')} {text}", highlight=False)
    for message in result["sns"]:
        body = message["message"]
        content = body.get("content", {}) if isinstance(body, dict) else {}
        text = content.get("title") or content.get("description") or json.dumps(body, default=str)[:160]
        console.print(f"[cyan]sns[/cyan]   {text}", highlight=False)
    console.print(f"{len(result['slack'])} Slack, {len(result['sns'])} SNS", highlight=False)


@local_app.command()
def timeline(as_json: bool = typer.Option(False, "--json"), state_dir: Path = StateDir) -> None:
    """What the running runtime did, in order."""
    entries = _call(state_dir, "/timeline")
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
        return
    for entry in entries:
        console.print(f"[dim]{entry['clock']}[/dim] [bold]{entry['kind']:<9}[/bold] {entry['text']}", highlight=False)


@local_app.command()
def demo(
    config: Path = typer.Option(DEFAULT_CONFIG, "--config", "-c", help="The demo declarations"),
    state_dir: Path = typer.Option(Path(".dockhand/demo"), "--state-dir"),
) -> None:
    """Play the whole story on a local runtime and check each step against the real state."""
    from dockhand_local.demo import run_demo

    raise typer.Exit(run_demo(config, state_dir, _stdout_console()))


@local_app.command()
def press(
    decision: str = typer.Argument(..., help="approve or reject"),
    user: str = typer.Option("", help="The Slack user who presses (default: the stage's first Slack approver)"),
    state_dir: Path = StateDir,
) -> None:
    """Press Approve or Reject on the newest approval request in the local Slack: the press is signed with the local
    Slack app's signing secret and sent to the approver's function URL (the stack's ApproverUrl), as Slack would."""
    if decision not in ("approve", "reject"):
        err.print(f"DECISION {decision!r}: expected approve or reject", highlight=False)
        raise typer.Exit(2)
    answer = _call(state_dir, "/press", {"decision": decision, "user": user})
    console.print(f"{answer['status']} {answer['answer']}", highlight=False)
    if answer["status"] != 200:
        raise typer.Exit(1)
