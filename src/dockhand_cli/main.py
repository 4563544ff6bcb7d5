"""Entry point of the `dockhand` command. Each wing keeps its commands in its own module."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from dockhand.config import json_schema
from dockhand_cli import batch_cmds, deploy_cmds, local_cmds, promote_cmds, watch_cmds
from dockhand_cli.common import DEFAULT_CONFIG, config_or_exit

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Dockhand: push-to-deploy, watch and batch for ECS.")
console = Console(soft_wrap=True)


@app.command()
def validate(path: Path = typer.Argument(DEFAULT_CONFIG, help="The declarations file")) -> None:
    """Check a declarations file against the models; print every problem with its field path."""
    cfg = config_or_exit(path)
    console.print(
        f"[green]valid[/green] {path}: {len(cfg.deploy.targets)} deploy target(s), {len(cfg.jobs)} job(s)",
        highlight=False,
    )


@app.command()
def schema() -> None:
    """Print the JSON Schema of the declarations file (generated from the models)."""
    typer.echo(json.dumps(json_schema(), indent=2, sort_keys=True))


deploy_cmds.register(app)
watch_cmds.register(app)
promote_cmds.register(app)
batch_cmds.register(app)
local_cmds.register(app)

if __name__ == "__main__":
    app()
