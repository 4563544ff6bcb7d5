"""The `accounts` section: other AWS accounts Dockhand works in, each through a role it assumes there.

A target or a job names one of them (`account: production`) and a Region; events forwarded from a workload account
carry its 12-digit id, which finds the same entry (`DockhandConfig.account_by_id`). Nothing named here is assumed
for work in Dockhand's own account.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from dockhand.config.base import FileModel

AccountId = Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")]
# A commercial, China or GovCloud Region name (us-east-1, eu-central-2, cn-north-1, us-gov-west-1).
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]{1,2}$")]
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>[0-9]{12}):role/[A-Za-z0-9+=,.@_/-]{1,512}$")


class Account(FileModel):
    """A workload account, and the role Dockhand assumes in it (the workload-account template makes it)."""

    id: AccountId = Field(description="The 12-digit account id")
    role: str = Field(description="ARN of the role Dockhand assumes there (arn:aws:iam::<id>:role/<name>)")
    external_id: str = Field(
        min_length=2,
        max_length=1224,
        pattern=r"^[A-Za-z0-9+=,.@:/_-]+$",
        description="The external id the role's trust policy asks for (sts:ExternalId)",
    )

    @model_validator(mode="after")
    def _role_in_account(self) -> Account:
        found = _ROLE_ARN.match(self.role)
        if found is None:
            raise ValueError(f"role: expected an IAM role ARN (arn:aws:iam::{self.id}:role/NAME), got {self.role!r}")
        if found["account"] != self.id:
            raise ValueError(f"role: {self.role!r} is a role of account {found['account']}, not of {self.id}")
        return self
