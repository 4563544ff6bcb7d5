"""The revision a group of services moves to: registered once per source revision and digest, and found again.

A claim per source revision and digest (`revision:<source>#<digest>#<shape>`, owned by the push's event id) keeps
the new revision's ARN. An attempt that registered it and could not record it is found by the revision's own
`dockhand:digest` and `dockhand:source` tags (ListTaskDefinitions newest first, down to the source), so a
redelivered push never registers a second copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockhand import arns
from dockhand.deploy import taskdef
from dockhand.deploy.admission import Admitted
from dockhand.deploy.context import Deployer
from dockhand.deploy.report import DeployReport
from dockhand.state.claims import Claims

SCOPE = "revision"
FIND_LIMIT = 20  # newest revisions of a family searched for one registered but not recorded


@dataclass(frozen=True, kw_only=True)
class Revision:
    """The revision a group of services moves to, and what it changes."""

    current: str  # the task definition the services ran before
    image: str  # the pushed image, pinned by digest
    arn: str  # the new revision
    containers: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()


def registered_once(
    d: Deployer, rep: DeployReport, group: list[Admitted], current: str, payload: dict[str, Any]
) -> str:
    """The new revision's ARN: registered now, or recorded (or found) from an earlier attempt of this push."""
    push, target = rep.push, group[0].target
    if d.table is None or all(w.claim is None for w in group):
        return _register(d, rep, payload)
    shape = f"{target.registry or push.default_registry}/{','.join(target.containers) if target.containers else '*'}"
    claim = Claims(d.table, SCOPE, owner=push.event_id).open(f"{current}#{push.digest}#{shape}")
    if claim.done:
        return str(claim.result["arn"])
    found = _find_registered(d, current, push.digest) if claim.state == "resumed" else None
    arn = found or _register(d, rep, payload)
    claim.finish({"arn": arn})
    return arn


def _register(d: Deployer, rep: DeployReport, payload: dict[str, Any]) -> str:
    arn = str(d.ecs.register_task_definition(**payload)["taskDefinitionArn"])
    rep.registered.append(arn)
    return arn


def _find_registered(d: Deployer, current: str, digest: str) -> str | None:
    """A revision of `current`'s family registered from it for `digest` (newer than it, newest first)."""
    floor = arns.revision(current) or 0
    for arn in d.ecs.newest_task_definitions(arns.family(current), limit=FIND_LIMIT):
        if (arns.revision(arn) or 0) <= floor:
            return None
        found = taskdef.recorded(d.task_definition(arn)[1])
        if found.get("digest") == digest and found.get("source") == arns.last_part(current):
            return arn
    return None
