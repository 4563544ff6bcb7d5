"""Restart chains of standalone tasks: one chain per origin task, one row per attempt holding what to launch.

The row is state (the attempt's RunTask parameters, for its delayed launch message); whether the attempt was
launched, and as which task, is the attempt's claim (`restart` scope, `<chain>#<attempt>`: `watch/restarts.py`).
moto ignores RunTask's clientToken, so that claim, and finding the task by its `startedBy`, is what the tests see.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from dockhand.started_by import RESTART_PREFIX
from dockhand.state.table import Table, ttl_after

_TTL = 14 * 86400


def chain_id(origin_task_arn: str) -> str:
    return hashlib.sha256(origin_task_arn.encode()).hexdigest()[:12]


def started_by(chain: str, attempt: int) -> str:
    """`dockhand-restart/<attempt>/<chain>`: ≤ 36 characters of [A-Za-z0-9-_/], as RunTask requires."""
    return f"{RESTART_PREFIX}{attempt}/{chain}"


def parse_started_by(value: str | None) -> tuple[str, int] | None:
    """(chain, attempt) of a task Dockhand restarted, else None."""
    if not value or not value.startswith(RESTART_PREFIX):
        return None
    parts = value[len(RESTART_PREFIX) :].split("/")
    if len(parts) != 2 or not parts[0].isdigit() or not parts[1]:
        return None
    return parts[1], int(parts[0])


def client_token(chain: str, attempt: int) -> str:
    return f"dockhand-{chain}-{attempt}"[:64]


class RestartAttempt(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    chain: str
    attempt: int
    origin_task_arn: str
    cluster: str
    group: str
    params: dict[str, Any]
    not_before: int = 0


class Restarts:
    def __init__(self, table: Table) -> None:
        self._t = table

    def schedule(self, rec: RestartAttempt) -> None:
        """Store the attempt (the same attempt stored again is the same row)."""
        item = {
            "pk": f"RESTART#{rec.chain}",
            "sk": f"ATTEMPT#{rec.attempt:03d}",
            **rec.model_dump(exclude={"params"}, exclude_none=True),
            "params": json.dumps(rec.params, default=str),
            "expires_at": ttl_after(_TTL),
        }
        self._t.put(item)

    def get(self, chain: str, attempt: int) -> RestartAttempt | None:
        item = self._t.get(f"RESTART#{chain}", f"ATTEMPT#{attempt:03d}")
        return _attempt(item) if item else None


def _attempt(item: dict[str, Any]) -> RestartAttempt:
    data = dict(item)
    if isinstance(data.get("params"), str):
        data["params"] = json.loads(data["params"])
    return RestartAttempt.model_validate(data)
