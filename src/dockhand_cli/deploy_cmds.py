"""`dockhand` commands of the deploy wing: `dockhand plan REPOSITORY TAG` shows what a push would deploy;
`dockhand deploy REPOSITORY TAG` replays a push whose event was missed (ECR push events are best effort).

Both find the stack's resources from its outputs (`--stack`, DOCKHAND_STACK): the deploy queue, and the state
table whose ledger and holds decide what a push may do.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import typer
from rich.console import Console
from rich.table import Table

from dockhand_cli.common import DEFAULT_CONFIG, config_or_exit, stdout
from dockhand_cli.stack import RegionOption, StackOption, StackUnreadable, aws_errors, find_stack, read_stack

err = Console(stderr=True, soft_wrap=True)

# The FIFO group the EventBridge rule (DeployPushRule) gives every push: a replay queues behind real pushes.
PUSH_GROUP = "ecr-push"


def register(app: typer.Typer) -> None:
    """Add this wing's commands to the root app."""
    app.command(name="plan")(plan)
    app.command(name="deploy")(deploy)


class PushedImage(NamedTuple):
    digest: str
    registry_id: str
    pushed_at: datetime


def plan(
    repository: str = typer.Argument(..., help="ECR repository name, as in the push event"),
    tag: str = typer.Argument(..., help="The tag that would be pushed"),
    digest: str | None = typer.Option(None, "--digest", help="Image digest (default: looked up in ECR by tag)"),
    config: Path = typer.Option(DEFAULT_CONFIG, "--config", help="The declarations file"),
    account: str | None = typer.Option(None, help="Account of the registry (default: the caller's)"),
    region: str | None = typer.Option(None, help="Region of the registry and the stack (default: the session's)"),
    stack: str = StackOption,
) -> None:
    """Show what a push of REPOSITORY:TAG would deploy, with each task-definition diff. Changes nothing."""
    cfg = config_or_exit(config)
    report = plan_push(cfg, repository, tag, digest=digest, account=account, region=region, stack=stack)
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
    stack: str | None = None,
) -> Any:
    """The deployer's own flow in dry-run mode, fed by a push event built from the arguments (with the stack's
    ledger and holds when `stack` can be read)."""
    from dockhand.aws import clients
    from dockhand.aws.ecr import Ecr
    from dockhand.aws.ecs import Ecs
    from dockhand.aws.places import Places
    from dockhand.deploy.push import Deployer, deploy_push
    from dockhand.events import EcrImageAction

    region = region or clients.client("ecs").meta.region_name
    if digest is None or account is None:
        image = _lookup(repository, tag, region, missing_exit=2, hint="; pass --digest and --account")
        digest, account = digest or image.digest, account or image.registry_id
    event = EcrImageAction.model_validate(
        push_event(repository, tag, digest, account=account, region=region, time=datetime.now(UTC), prefix="plan")
    )
    ledger, holds = _state(stack, region)
    ecs = Ecs(clients.client("ecs"))
    deployer = Deployer(
        ecs=ecs,
        ledger=ledger,
        holds=holds,
        deployments=None,
        notifier=None,
        section=cfg.deploy,
        dry_run=True,
        ecr=Ecr(clients.client("ecr", region)),
        places=Places(cfg.accounts, region, ecs),  # targets of other accounts: through their roles, as the deployer
    )
    return deploy_push(event, deployer)


def push_event(
    repository: str, tag: str, digest: str, *, account: str, region: str, time: datetime, prefix: str
) -> dict[str, Any]:
    """The `ECR Image Action` event ECR sends for a successful push of REPOSITORY:TAG, as EventBridge delivers it."""
    return {
        "version": "0",
        "id": f"{prefix}-{uuid.uuid4()}",
        "detail-type": "ECR Image Action",
        "source": "aws.ecr",
        "account": account,
        "time": time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": {
            "result": "SUCCESS",
            "repository-name": repository,
            "image-digest": digest,
            "action-type": "PUSH",
            "image-tag": tag,
        },
    }


def _lookup(repository: str, tag: str, region: str | None, *, missing_exit: int, hint: str = "") -> PushedImage:
    """The image REPOSITORY:TAG in ECR; when ECR cannot give it, say why and exit with `missing_exit`."""
    from botocore.exceptions import ClientError

    from dockhand.aws import clients

    try:
        out = clients.client("ecr", region).describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ClientError as exc:
        err.print(f"cannot find {repository}:{tag} in ECR ({clients.error_code(exc)}){hint}", highlight=False)
        raise typer.Exit(missing_exit) from None
    image = out["imageDetails"][0]
    return PushedImage(image["imageDigest"], image["registryId"], image["imagePushedAt"])


# ------------------------------------------------------------------------------------------------- deploy


def deploy(
    repository: str = typer.Argument(..., help="ECR repository name, as in the push event"),
    tag: str = typer.Argument(..., help="The pushed tag to deploy"),
    config: Path = typer.Option(DEFAULT_CONFIG, "--config", help="The declarations file"),
    stack: str = StackOption,
    region: str | None = RegionOption,
) -> None:
    """Send the push event of REPOSITORY:TAG that ECR would have sent (for a push whose event was missed) to
    the stack's deploy queue (output DeployQueueUrl).

    It takes the same road as a real push: the deploy queue, the ledger (never backwards), exactly once.
    """
    cfg = config_or_exit(config)
    if not cfg.deploy.targets_for(repository):
        err.print(
            f"[yellow]no deploy target in {config} takes {repository}: the push will be ignored[/yellow]",
            highlight=False,
        )
    found = find_stack(stack, region)
    image = _lookup(repository, tag, found.region, missing_exit=1)
    url = found.output("DeployQueueUrl")
    event = push_event(
        repository,
        tag,
        image.digest,
        account=image.registry_id,
        region=found.region,
        time=image.pushed_at,
        prefix="manual",
    )
    with aws_errors(found, f"cannot send the push to {url}"):
        send_push(found.client("sqs"), url, event)
    console = stdout()
    console.print(
        f"sent the push of {repository}:{tag} ({image.digest}, pushed {event['time']}) to {url}", highlight=False
    )
    console.print_json(json.dumps(event))


def send_push(sqs_client: Any, queue_url: str, event: dict[str, Any]) -> dict[str, Any]:
    """Put a push event on the deploy queue as the EventBridge rule does; the event id deduplicates it."""
    from dockhand.events import EcrImageAction

    EcrImageAction.model_validate(event)
    sqs_client.send_message(
        QueueUrl=queue_url,
        MessageBody=json.dumps(event),
        MessageGroupId=PUSH_GROUP,
        MessageDeduplicationId=event["id"],
    )
    return event


def _state(stack: str | None, region: str | None) -> tuple[Any, Any]:
    """The ledger and holds when the stack's table is readable; without them, ordering is not checked."""
    from botocore.exceptions import BotoCoreError, ClientError

    from dockhand.state.deployments import Holds
    from dockhand.state.ledger import Ledger

    unchecked = "push order and holds are not checked"
    if stack is None:
        return None, None
    try:
        table = read_stack(stack, region).table()
        table.get("LEDGER#probe", "CURRENT")
    except StackUnreadable as exc:
        err.print(f"[yellow]{exc}: {unchecked}[/yellow]", highlight=False)
        return None, None
    except (ClientError, BotoCoreError) as exc:
        err.print(f"[yellow]the state table is not reachable ({type(exc).__name__}): {unchecked}[/yellow]")
        return None, None
    return Ledger(table), Holds(table)


def print_report(report: Any) -> None:
    console = stdout()
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
