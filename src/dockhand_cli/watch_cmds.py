"""`dockhand` commands of the watch wing: holds on rolled-back digests, and the history of stops.

They read the stack's state table, found from the stack's outputs (`--stack`, DOCKHAND_STACK).
"""

from __future__ import annotations

import typer
from rich.table import Table as RichTable

from dockhand_cli.common import stdout
from dockhand_cli.stack import RegionOption, StackOption, aws_errors, find_stack

holds_app = typer.Typer(no_args_is_help=True, help="Digests held after a circuit-breaker rollback.")


@holds_app.command("list")
def holds_list(stack: str = StackOption, region: str | None = RegionOption) -> None:
    """List held digests (later pushes of them are skipped until released)."""
    from dockhand.state.deployments import Holds

    found = find_stack(stack, region)
    with aws_errors(found, "cannot read the holds"):
        holds = sorted(Holds(found.table()).list(), key=lambda h: (h.repository, h.created_at))
    console = stdout()
    if not holds:
        console.print("no holds")
        return
    out = RichTable("repository", "digest", "tag", "since", "reason")
    for h in holds:
        out.add_row(h.repository, h.digest, h.tag, h.created_at, h.reason)
    console.print(out)


@holds_app.command("release")
def holds_release(
    repository: str = typer.Argument(..., help="ECR repository name"),
    digest: str = typer.Argument(..., help="sha256:… digest"),
    stack: str = StackOption,
    region: str | None = RegionOption,
) -> None:
    """Release a hold: the next push of this digest deploys again."""
    from dockhand.state.deployments import Holds

    found = find_stack(stack, region)
    with aws_errors(found, "cannot release the hold"):
        released = Holds(found.table()).release(repository, digest)
    if not released:
        stdout().print(f"no hold on {repository}@{digest}", highlight=False)
        raise typer.Exit(1)
    stdout().print(f"released {repository}@{digest}", highlight=False)


def history(
    name: str = typer.Argument(..., help="Service name or task-definition family (job)"),
    cluster: str | None = typer.Option(None, "--cluster", "-c", help="Cluster name (default: every cluster)"),
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=500),
    stack: str = StackOption,
    region: str | None = RegionOption,
) -> None:
    """Recent stops of a service or job, newest first (kept for watch.history_days)."""
    from dockhand.state.stops import StopHistory

    found = find_stack(stack, region)
    groups = (f"service:{name}", f"family:{name}")
    with aws_errors(found, "cannot read the stop history"):
        stops_store = StopHistory(found.table())
        if cluster:
            stops = [stop for group in groups for stop in stops_store.recent(cluster, group, limit)]
        else:
            stops = stops_store.recent_anywhere(groups, limit)
    stops.sort(key=lambda s: s.stopped_at, reverse=True)
    if not stops:
        stdout().print(f"no recorded stops of {name}", highlight=False)
        return
    # One line per stop (grep-able): stopped  cluster  task  cause  container  exit  reason
    for s in stops[:limit]:
        exit_code = "-" if s.exit_code is None else str(s.exit_code)
        typer.echo(
            "  ".join(
                [
                    s.stopped_at,
                    s.cluster,
                    s.task_arn.rsplit("/", 1)[-1],
                    s.cause,
                    s.container or "-",
                    f"exit={exit_code}",
                    "alerted" if s.alerted else "quiet",
                    s.reason,
                ]
            ).rstrip()
        )


def register(app: typer.Typer) -> None:
    """Add this wing's commands to the root app."""
    app.add_typer(holds_app, name="holds")
    app.command("history")(history)
