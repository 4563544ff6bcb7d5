"""Where work happens: Dockhand's own account, or a declared account (`accounts:`) through the role it names, in
a Region. Work in Dockhand's own account and Region uses the handler's clients; nothing is assumed for it.

Another account's clients come from STS AssumeRole with the account's external id and a session name that says why
(`dockhand-web-3f9a…` for a push of web), and botocore refreshes their credentials; they are cached per role,
session name and Region (`clients.assumed_client`). A role that cannot be assumed is AccountUnreachable: bad
input, never retried (throttling of STS is retried).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dockhand.aws import clients
from dockhand.aws.ecs import Ecs
from dockhand.config import Account
from dockhand.errors import AccountUnreachable

_NOT_IN_SESSION_NAME = re.compile(r"[^A-Za-z0-9_+=,.@-]")
SESSION_NAME_MAX = 64  # STS RoleSessionName: 2-64 characters of [\w+=,.@-]


def session_name(*parts: str) -> str:
    """A RoleSessionName naming the work: `dockhand-<parts…>`, in the characters STS allows, at most 64 long (the
    leading parts are shortened, the last one is kept whole: a digest stays readable)."""
    *lead, last = ("dockhand", *parts)
    last = _NOT_IN_SESSION_NAME.sub("-", last)[: SESSION_NAME_MAX // 2]
    head = _NOT_IN_SESSION_NAME.sub("-", "-".join(lead))[: SESSION_NAME_MAX - len(last) - 1]
    return f"{head}-{last}"


@dataclass
class Places:
    accounts: Mapping[str, Account]  # the declared accounts, by name
    region: str  # Dockhand's own Region
    ecs_here: Ecs  # the ECS adapter of Dockhand's own account and Region
    _made: dict[tuple[str, str, str], Ecs] = field(default_factory=dict)

    def ecs(self, account: str | None, region: str | None, session: str = "dockhand") -> Ecs:
        """The ECS adapter of the declared account named `account` (None: Dockhand's own) in `region`."""
        return self._ecs(self.accounts[account] if account else None, region or self.region, session)

    def ecs_of(self, account_id: str, region: str | None, session: str = "dockhand") -> Ecs:
        """The ECS adapter of the account with this id (an event's `account`): a declared one through its role,
        any other as Dockhand's own."""
        declared = next((a for a in self.accounts.values() if a.id == account_id), None)
        return self._ecs(declared, region or self.region, session)

    def ecs_at(self, arn: str, session: str) -> Ecs:
        """The ECS adapter of the account and Region an ECS ARN names (a bare name: Dockhand's own)."""
        parts = arn.split(":")
        if len(parts) < 6 or parts[0] != "arn":
            return self.ecs_here
        return self.ecs_of(parts[4], parts[3], session)

    def _ecs(self, declared: Account | None, region: str, session: str) -> Ecs:
        if declared is None and region == self.region:
            return self.ecs_here
        key = (declared.id if declared else "", region, session if declared else "")
        if key not in self._made:
            self._made[key] = Ecs(self.client("ecs", declared, region, session))
        return self._made[key]

    def client(self, service: str, declared: Account | None, region: str, session: str) -> Any:
        if declared is None:
            return clients.client(service, region)
        role = clients.AssumedRole(declared.role, declared.external_id, session)
        try:
            return clients.assumed_client(service, region, role)
        except Exception as exc:
            clients.reraise_retryable(exc, "sts:AssumeRole")
            why = clients.error_code(exc) or type(exc).__name__
            raise AccountUnreachable(
                f"cannot assume {declared.role} in account {declared.id} ({why}): check the role's trust policy "
                "and the external id declared for it",
                account=declared.id,
                role=declared.role,
            ) from exc
