"""`dockhand` commands of the deploy wing: `dockhand plan REPOSITORY TAG` shows what a push would deploy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err = Console(stderr=True)

DEFAULT_CONFIG = Path("config/dockhand.yaml")


def register(app: typer.Typer) -> None:
    """Add this wing's commands to the root app."""
    app.command(name="plan")(plan)


def plan(
    repository: str = typer.Argument(..., help="ECR repository name, as in the push event"),
    tag: str = typer.Argument(..., help="The tag that would be pushed"),
    digest: str | None = typer.Option(None, "--digest", help="Image digest (default: looked up in ECR by tag)"),
    config: Path = typer.Option(DEFAULT_CONFIG, "--config", help="The declarations file"),
    account: str | None = typer.Option(None, help="Account of the registry (default: the caller's)"),
    region: str | None = typer.Option(None, help="Region of the registry (default: the session's)"),
) -> None:
    """Show what a push of REPOSITORY:TAG would deploy, with each task-definition diff. Changes nothing."""
    from dockhand.config import load_config
    from dockhand.errors import ConfigError

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        err.print(f"[red]invalid[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    report = plan_push(cfg, repository, tag, digest=digest, account=account, region=region)
    print_report(report)
    if report.by_action("failed"):
        raise typer.Exit(1)


def plan_push(
    cfg: Any,
    repository: str,
    tag: str,
    *,
    digest: str | None = None,
    account: str | None = None,
    region: str | None = None,
) -> Any:
    """The deployer's own flow in dry-run mode, fed by a push event built from the arguments."""
    from dockhand.aws import clients
    from dockhand.aws.ecs import Ecs
    from dockhand.deploy.service import Deployer, deploy_push
    from dockhand.events import EcrImageAction

    region = region or clients.client("ecs").meta.region_name
    if digest is None or account is None:
        found_digest, registry_id = _lookup(repository, tag)
        digest, account = digest or found_digest, account or registry_id
    event = EcrImageAction.model_validate(
        {
            "id": f"plan-{uuid.uuid4()}",
            "detail-type": "ECR Image Action",
            "source": "aws.ecr",
            "account": account,
            "time": datetime.now(UTC).isoformat(),
            "region": region,
            "detail": {
                "result": "SUCCESS",
                "repository-name": repository,
                "image-digest": digest,
                "action-type": "PUSH",
                "image-tag": tag,
            },
        }
    )
    ledger, holds = _state()
    deployer = Deployer(
        ecs=Ecs(clients.client("ecs")),
        ledger=ledger,
        holds=holds,
        deployments=None,
        notifier=None,
        section=cfg.deploy,
        dry_run=True,
    )
    return deploy_push(event, deployer)


def _lookup(repository: str, tag: str) -> tuple[str, str]:
    from botocore.exceptions import ClientError

    from dockhand.aws import clients

    try:
        out = clients.client("ecr").describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ClientError as exc:
        err.print(
            f"cannot find {repository}:{tag} in ECR ({clients.error_code(exc)}); pass --digest and --account",
            highlight=False,
        )
        raise typer.Exit(2) from None
    image = out["imageDetails"][0]
    return image["imageDigest"], image["registryId"]


def _state() -> tuple[Any, Any]:
    """The ledger and holds when Dockhand's table is reachable; without them, ordering is not checked."""
    from botocore.exceptions import BotoCoreError, ClientError

    from dockhand import deps
    from dockhand.state.deployments import Holds
    from dockhand.state.ledger import Ledger

    try:
        table = deps.table()
        table.get("LEDGER#probe", "CURRENT")
    except (ClientError, BotoCoreError) as exc:
        err.print(
            f"[yellow]the state table is not reachable ({type(exc).__name__}): push order and holds are not "
            "checked[/yellow]",
            highlight=False,
        )
        return None, None
    return Ledger(table), Holds(table)


def print_report(report: Any) -> None:
    push = report.push
    console.print(f"[bold]{push.repository}:{push.tag}[/bold] {push.digest}", highlight=False)
    if report.ignored:
        console.print(f"nothing to do: {report.ignored}", highlight=False)
        return
    table = Table("cluster", "service", "target", "plan", "reason", "from", "image")
    for o in report.outcomes:
        style = {"planned": "green", "failed": "red", "skipped": "yellow"}.get(o.action, "")
        table.add_row(
            o.cluster,
            o.service,
            o.target,
            f"[{style}]{o.action}[/{style}]" if style else o.action,
            o.reason,
            (o.previous_task_definition or "").rsplit("/", 1)[-1],
            o.image or "",
        )
    console.print(table)
    shown: set[tuple[str, ...]] = set()
    for o in report.outcomes:
        if o.diff and tuple(o.diff) not in shown:
            shown.add(tuple(o.diff))
            console.print(f"[bold]{(o.previous_task_definition or '').rsplit('/', 1)[-1]}[/bold] → new revision:")
            for line in o.diff:
                console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
