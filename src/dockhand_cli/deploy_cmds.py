"""`dockhand` commands of the deploy wing."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this wing's commands to the root app."""
