"""`dockhand` commands of the local wing."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this wing's commands to the root app."""
