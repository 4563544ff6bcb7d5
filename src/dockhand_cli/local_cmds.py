"""`dockhand local …`: run the whole of Dockhand on this machine, and drive the running runtime."""

from __future__ import annotations

import json
import signal
import sys
import threading
from datetime import datetime
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


def _call(state_dir: Path, path: str, body: dict[str, Any] | None = None) -> Any:
    import urllib.error

    from dockhand_local.control import call

    try:
        return call(_state(state_dir)["control_url"], path, body)
    except urllib.error.HTTPError as exc:
        err.print(f"the runtime refused: {exc.read().decode(errors='replace')}", highlight=False)
        raise typer.Exit(1) from None
    except urllib.error.URLError as exc:
        err.print(f"the runtime does not answer ({exc.reason}); is `dockhand local up` still running?")
        raise typer.Exit(2) from None


StateDir = typer.Option(DEFAULT_STATE_DIR, "--state-dir", help="Where the runtime keeps local.json")


@local_app.command()
def up(
    config: Path = typer.Option(DEFAULT_CONFIG, "--config", "-c", help="The declarations file"),
    port: int = typer.Option(0, help="moto's port (0: a free one)"),
    control_port: int = typer.Option(0, help="The control API's port (0: a free one)"),
    region: str = typer.Option("us-east-1"),
    speed: float = typer.Option(60.0, help="How much faster than the wall clock schedules run"),
    clock_start: str = typer.Option("", help="ISO time the local clock starts at (default: now)"),
    deploy_delay: float = typer.Option(1.5, help="Seconds from UpdateService to deployment COMPLETED/FAILED"),
    state_dir: Path = StateDir,
) -> None:
    """Start moto and the stack, deliver events to the real handlers; runs until Ctrl-C."""
    from dockhand_local.runtime import Runtime, RuntimeOptions

    options = RuntimeOptions(
        config_path=config,
        region=region,
        port=port,
        control_port=control_port,
        speed=speed,
        clock_start=datetime.fromisoformat(clock_start) if clock_start else None,
        deploy_delay=deploy_delay,
        state_dir=state_dir,
        handler_log=state_dir / "handlers.log",
    )
    console = _stdout_console()
    runtime = Runtime(options).start()
    console.print(
        f"[bold]Dockhand local[/bold] endpoint [cyan]{runtime.endpoint}[/cyan] region {region}", highlight=False
    )
    console.print(
        f"  export AWS_ENDPOINT_URL={runtime.endpoint} AWS_ACCESS_KEY_ID=local "
        f"AWS_SECRET_ACCESS_KEY=local AWS_REGION={region}",
        highlight=False,
    )
    console.print(
        f"  control {runtime.control.url}   state {runtime.state_file}   handler logs "
        f"{options.handler_log}   Ctrl-C stops",
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
    result = _call(state_dir, "/stop-task", body)
    for arn in result["task_arns"]:
        console.print(f"stopped {arn}", highlight=False)


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
    codes: list[int] = typer.Argument(..., help="Exit codes of the next runs, in order"),
    state_dir: Path = StateDir,
) -> None:
    """Script how the next task runs of a job end (default: exit code 0)."""
    _call(state_dir, "/job-exit-codes", {"job": job, "codes": codes})
    console.print(f"job {job}: next exit codes {', '.join(map(str, codes))}", highlight=False)


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
