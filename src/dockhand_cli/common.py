"""What several `dockhand` commands share: loading the declarations, and finding one of the stack's queues."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

err = Console(stderr=True, soft_wrap=True)

DEFAULT_CONFIG = Path("config/dockhand.yaml")
DEFAULT_STACK = "dockhand"  # samconfig.toml's stack_name


def config_or_exit(path: Path) -> Any:
    """The declarations in `path`; an invalid file prints every problem (with its field path) and exits 1."""
    from dockhand.config import load_config
    from dockhand.errors import ConfigError

    try:
        return load_config(path)
    except ConfigError as exc:
        err.print(f"[red]invalid[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None


def queue_url_from_arn(sqs_client: Any, arn: str) -> str:
    _, _, _, _, account, name = arn.split(":", 5)
    return str(sqs_client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])


def stack_queue_url(
    given: str | None,
    *,
    output: str,
    arn: str | None = None,
    stack: str = DEFAULT_STACK,
    region: str | None = None,
) -> str:
    """The URL of one of the stack's queues: `given` (--queue-url), else the queue ARN from the environment,
    else the stack output `output` read from CloudFormation. Exits 2, saying what to give, when none is there."""
    from botocore.exceptions import BotoCoreError, ClientError

    from dockhand.aws import clients

    if given:
        return given
    if arn:
        return queue_url_from_arn(clients.client("sqs", region), arn)
    try:
        found = clients.client("cloudformation", region).describe_stacks(StackName=stack)["Stacks"]
    except (BotoCoreError, ClientError) as exc:
        reason = clients.error_code(exc) or type(exc).__name__
        err.print(
            f"give --queue-url (stack output {output}); stack {stack!r} cannot be read ({reason})", highlight=False
        )
        raise typer.Exit(2) from None
    for item in found[0].get("Outputs", []) if found else []:
        if item.get("OutputKey") == output:
            return str(item["OutputValue"])
    err.print(f"give --queue-url: stack {stack!r} has no output {output}", highlight=False)
    raise typer.Exit(2)
