"""What several `dockhand` commands share: loading the declarations, and where their output goes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

err = Console(stderr=True, soft_wrap=True)

DEFAULT_CONFIG = Path("config/dockhand.yaml")
PIPED_WIDTH = 10_000  # columns rich may use when stdout is not a terminal: a table's cells are never cut


def stdout() -> Console:
    """A console on stdout: at a terminal, the terminal's width; piped or redirected, wide enough that no table
    cell is wrapped or cut (rich would otherwise assume 80 columns)."""
    return Console(file=sys.stdout, soft_wrap=True, width=None if sys.stdout.isatty() else PIPED_WIDTH)


def config_or_exit(path: Path) -> Any:
    """The declarations in `path`; an invalid file prints every problem (with its field path) and exits 1."""
    from dockhand.config import load_config
    from dockhand.errors import ConfigError

    try:
        return load_config(path)
    except ConfigError as exc:
        err.print(f"[red]invalid[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
