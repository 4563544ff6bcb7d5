"""Workload accounts, locally: the accounts the declarations name (`accounts:`) exist in the same moto server.

For every account and Region a deploy target or a job names, the runtime creates `workload-account/template.yaml`
there by CloudFormation, as the account's administrator would: the role Dockhand assumes (trusting Dockhand's
account on the declared external id) and the rule forwarding that Region's ECS events to Dockhand's bus. Clients act
in an account through an administrator's role there (moto grants any AssumeRole; the assumed role's credentials are
what put a call in that account).

moto gap covered here: an EventBridge target that is another account's (or Region's) bus re-puts the event as that
bus's own — its `account`, `region`, `resources` and `time` become the receiving bus's or are lost. EventBridge keeps
the envelope of a forwarded event, and the watcher reads it (whose account and Region a task stopped in), so while a
runtime runs, a rule's bus targets receive the event whole.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockhand_local.stack import ACCOUNT, ROOT

WORKLOAD_TEMPLATE = ROOT / "workload-account" / "template.yaml"
WORKLOAD_STACK = "dockhand-workload"
ADMIN_ROLE = "OrganizationAccountAccessRole"  # what AWS Organizations makes in a member account


@dataclass(frozen=True)
class Place:
    name: str  # the declared account's name
    account: str  # its id
    region: str
    role: str  # the role Dockhand assumes there
    external_id: str


def places(config_path: Path) -> list[Place]:
    """Every (declared account, Region) a deploy target or a job of the file works in, in the file's order."""
    from dockhand.config import load_config

    config = load_config(config_path)
    found: dict[tuple[str, str], Place] = {}
    for item in (*config.deploy.targets, *config.jobs):
        if item.account is None:
            continue
        declared = config.accounts[item.account]
        region = item.region or ""
        found.setdefault(
            (declared.id, region), Place(item.account, declared.id, region, declared.role, declared.external_id)
        )
    return list(found.values())


class Accounts:
    """Clients in the workload accounts, and their workload stacks."""

    def __init__(self, session: Any, endpoint: str, home_region: str) -> None:
        self._session, self._endpoint, self._home = session, endpoint, home_region
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, account: str, region: str) -> Any:
        """A client acting in `account` (Dockhand's own: the runtime's credentials) in `region`."""
        return self._session_of(account).client(service, region_name=region, endpoint_url=self._endpoint)

    def _session_of(self, account: str) -> Any:
        import boto3

        if account == ACCOUNT:
            return self._session
        with self._lock:
            if account not in self._sessions:
                sts = self._session.client("sts", region_name=self._home, endpoint_url=self._endpoint)
                creds = sts.assume_role(
                    RoleArn=f"arn:aws:iam::{account}:role/{ADMIN_ROLE}", RoleSessionName="dockhand-local-admin"
                )["Credentials"]
                self._sessions[account] = boto3.Session(
                    aws_access_key_id=creds["AccessKeyId"],
                    aws_secret_access_key=creds["SecretAccessKey"],
                    aws_session_token=creds["SessionToken"],
                    region_name=self._home,
                )
            return self._sessions[account]

    def deploy_workload_stacks(self, found: list[Place]) -> list[str]:
        """The workload-account template in each place (the role made once per account); what was made."""
        made: list[str] = []
        roles: set[str] = set()
        bus = f"arn:aws:events:{self._home}:{ACCOUNT}:event-bus/default"
        for place in found:
            role_name = place.role.rsplit("/", 1)[-1]
            parameters = {
                "DockhandAccountId": ACCOUNT,
                "ExternalId": place.external_id,
                "DockhandBusArn": bus,
                "RoleName": role_name,
                "CreateRole": str(place.account not in roles).lower(),
            }
            roles.add(place.account)
            self.client("cloudformation", place.account, place.region).create_stack(
                StackName=WORKLOAD_STACK,
                TemplateBody=WORKLOAD_TEMPLATE.read_text(encoding="utf-8"),
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                Capabilities=["CAPABILITY_NAMED_IAM"],
            )
            made.append(f"{place.name} ({place.account}) {place.region}: role {role_name}, ECS events forwarded")
        return made


def keep_forwarded_envelopes() -> Callable[[], None]:
    """While it holds, a rule whose target is an event bus delivers the matched event whole to that bus's rules (as
    EventBridge does across accounts and Regions); returns what puts moto's own delivery back."""
    from moto.events.models import Rule, events_backends
    from moto.utilities.arns import parse_arn

    original = Rule.send_to_targets

    def send_to_targets(self: Any, event: Any, transform_input: bool = True) -> None:
        buses = [t for t in self.targets if parse_arn(t["Arn"]).resource_type == "event-bus"]
        if not buses or not self.event_pattern.matches_event(event):
            original(self, event, transform_input)
            return
        for target in buses:
            arn = parse_arn(target["Arn"])
            bus = events_backends[arn.account][arn.region].describe_event_bus(arn.resource_id)
            for rule in list(bus.rules.values()):
                rule.send_to_targets(copy.deepcopy(event), transform_input)
        rest = copy.copy(self)
        rest.targets = [t for t in self.targets if t not in buses]
        original(rest, event, transform_input)

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign,assignment]

    def restore() -> None:
        Rule.send_to_targets = original  # type: ignore[method-assign]

    return restore
