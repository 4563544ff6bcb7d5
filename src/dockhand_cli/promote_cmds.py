"""`dockhand` commands of the promotion wing: `status` (which digest runs in which stage, what is pending),
`promote` (skip the bake; an approval the stage asks for is still asked), `approve` and `reject`.

They find the stack from its outputs (`--stack`, DOCKHAND_STACK): the state table, and the watcher's queue where the
promotion flow runs (the watcher does the verifying, releasing and telling, with its own permissions).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import typer

from dockhand_cli.common import DEFAULT_CONFIG, config_or_exit, err, stdout
from dockhand_cli.stack import DeployedStack, RegionOption, StackOption, aws_errors, fail, find_stack

DIGEST_HELP = "The image digest (sha256:…)"


def register(app: typer.Typer) -> None:
    """Add this wing's commands to the root app."""
    app.command(name="status")(status)
    app.command(name="promote")(promote)
    app.command(name="approve")(approve)
    app.command(name="reject")(reject)


def status(
    repository: str = typer.Argument(..., help="ECR repository name"),
    stack: str = StackOption,
    region: str | None = RegionOption,
) -> None:
    """Which digest runs in which stage, every promotion and every traffic gate (the blue/green lifecycle hook's):
    its status, since when, waiting on what."""
    from dockhand.state.promotions import Promotions, TrafficGates

    found = find_stack(stack, region)
    with aws_errors(found, "cannot read the promotions"):
        runs, promotions = Promotions(found.table()).walk(repository)
        gates = TrafficGates(found.table()).held(repository)
    console = stdout()
    if not runs and not promotions and not gates:
        console.print(f"no stage has run {repository} yet", highlight=False)
        return
    for run in sorted(runs, key=lambda r: r.since):
        typer.echo(f"{run.stage}: runs {repository}:{run.tag or '-'} {run.digest} since {run.since}")
    for p in sorted(promotions, key=lambda r: r.since, reverse=True):
        line = f"{p.from_stage} -> {p.stage}: {repository}:{p.tag or '-'} {p.digest} {p.status} since {p.since}"
        typer.echo(line + _what(p))
    for g in sorted(gates, key=lambda r: r.since, reverse=True):
        line = f"traffic gate of {g.stage}: {repository}:{g.tag or '-'} {g.digest} {g.status} since {g.since}"
        typer.echo(line + _what(g))


def _what(p: Any) -> str:
    """`: waiting on …` for a pending promotion or gate, `: <reason>` for one that ended."""
    holding = p.pending or p.status == "approved"
    what = f"waiting on {p.waiting_on}" if holding and p.waiting_on else (p.reason or p.waiting_on)
    return f": {what}" if what else ""


def promote(
    repository: str = typer.Argument(..., help="ECR repository name"),
    digest: str = typer.Argument(..., help=DIGEST_HELP),
    to: str = typer.Option(..., "--to", help="The stage to promote to"),
    config: Path = typer.Option(DEFAULT_CONFIG, "--config", help="The declarations file"),
    stack: str = StackOption,
    region: str | None = RegionOption,
) -> None:
    """Promote DIGEST to a stage now, without its bake. The stage it comes from must have completed the digest,
    the digest must not be held, and an approval the stage asks for is still asked."""
    cfg = config_or_exit(config)
    _stage_or_exit(cfg, repository, to, config, digest)
    found = find_stack(stack, region)
    who = caller(found)
    body = {
        "dockhand": "promote",
        "action": "promote_now",
        "repository": repository,
        "digest": digest,
        "stage": to,
        "by": who,
        "request": str(uuid.uuid4()),
    }
    _send(found, body)
    stdout().print(
        f"asked to promote {repository}@{digest} to {to} as {who}; `dockhand status {repository}` follows it",
        highlight=False,
    )


def _answer_command(decision: Literal["approve", "reject"], doc: str) -> Callable[..., None]:
    def command(
        repository: str = typer.Argument(..., help="ECR repository name"),
        digest: str = typer.Argument(..., help=DIGEST_HELP),
        stage: str = typer.Option(..., "--stage", help="The stage whose approval is answered"),
        config: Path = typer.Option(DEFAULT_CONFIG, "--config", help="The declarations file"),
        stack: str = StackOption,
        region: str | None = RegionOption,
    ) -> None:
        _answer(decision, repository, digest, stage, config, stack, region)

    command.__doc__ = doc
    return command


approve = _answer_command(
    "approve",
    "Approve a pending promotion, or a traffic gate's approval (as the caller's IAM principal, which the stage must "
    "declare).",
)
reject = _answer_command(
    "reject", "Reject a pending promotion (the walk stops at this stage), or a traffic gate (ECS rolls back)."
)


def _answer(
    decision: Literal["approve", "reject"],
    repository: str,
    digest: str,
    stage: str,
    config: Path,
    stack: str,
    region: str | None,
) -> None:
    from dockhand.notify.notifier import Notifier
    from dockhand.promote.approvals import decide
    from dockhand.promote.context import Promoter, PromotionQueues

    cfg = config_or_exit(config)
    _stage_or_exit(cfg, repository, stage, config, digest)
    found = find_stack(stack, region)
    who = caller(found)
    queues = PromotionQueues(found.client("sqs"), found.output("WatchQueueUrl"), found.output("DeployQueueUrl"))
    promoter = Promoter(
        config=cfg,
        table=found.table(),
        notifier=Notifier([], cfg.notifications),
        queues=queues,
        clock=lambda: found.now().timestamp(),
    )
    with aws_errors(found, f"cannot {decision} the promotion"), _no_metrics():
        answer = decide(promoter, repository, digest, stage, decision, who)
    if not answer.ok:
        fail(answer.text, code=1)
    stdout().print(answer.text, highlight=False)


@contextmanager
def _no_metrics() -> Iterator[None]:
    """The flow's metrics are the functions' (CloudWatch EMF on stdout): a command's output stays its own."""
    before = os.environ.get("POWERTOOLS_METRICS_DISABLED")
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)
        else:
            os.environ["POWERTOOLS_METRICS_DISABLED"] = before


def caller(found: DeployedStack) -> str:
    """The caller's IAM principal (sts:GetCallerIdentity): who promotes, approves or rejects."""
    with aws_errors(found, "cannot tell who is calling (sts get-caller-identity)"):
        return str(found.client("sts").get_caller_identity()["Arn"])


def _stage_or_exit(cfg: Any, repository: str, stage: str, config: Path, digest: str) -> None:
    """The stage must be one promoted from another, and the digest a digest: else one line naming it, exit 2."""
    if not re.fullmatch(r"sha256:[a-f0-9]{64}", digest):
        fail(f"DIGEST: expected sha256: and 64 lowercase hex digits, got {digest!r}")
    promoted = [t for t in cfg.deploy.stage_targets(repository, stage) if t.promote_from]
    if not promoted:
        stages = cfg.deploy.stages(repository)
        err.print(
            f"{config}: {repository} has no stage {stage!r} promoted from another (its stages: {stages})",
            highlight=False,
            markup=False,
        )
        raise typer.Exit(2)


def _send(found: DeployedStack, body: dict[str, Any]) -> None:
    from dockhand.errors import InvalidEvent
    from dockhand.events import PromoteAction, parse_message

    try:
        parse_message(PromoteAction, body, "promotion message")  # refused here, naming the field, not in the queue
    except InvalidEvent as exc:
        fail(str(exc))
    url = found.output("WatchQueueUrl")
    with aws_errors(found, f"cannot send to {url}"):
        found.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(body))
