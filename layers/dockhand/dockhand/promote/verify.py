"""Verification: does the stage a digest comes from vouch for it? Every service of the stage completed its
deployment of the digest, none was rolled back (and the digest is not held), no task of theirs failed during the
bake (a failure opens an alert window: a crash loop's first stop does), and every alarm the next stage names is OK.

A pure reading of records and alarms: nothing here changes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from botocore.exceptions import ClientError

from dockhand import arns
from dockhand.config import DeployTarget
from dockhand.promote.context import Gate, Promoter
from dockhand.state.alerts import windows_since
from dockhand.state.deployments import Deployments, Holds
from dockhand.state.ledger import Ledger
from dockhand.state.promotions import PromotionRecord

# How long after the bake a deployment of the earlier stage may still be in progress before the walk stops.
MAX_WAIT_AFTER_BAKE = 3600


@dataclass(frozen=True)
class Verdict:
    state: Literal["ok", "wait", "stop"]
    why: str = ""


def short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


def _stage_services(rec: PromotionRecord, targets: list[DeployTarget], p: Promoter) -> dict[str, tuple[str, str]]:
    """The ARN of each service of the earlier stage, in its own account and Region (the digest's own, when the
    target names none) → (cluster, service)."""
    services = {}
    for t in targets:
        account = p.config.accounts[t.account].id if t.account else rec.account
        region = t.region or rec.region
        partition = arns.partition_of(region) or "aws"
        for name in t.services:
            services[f"arn:{partition}:ecs:{region}:{account}:service/{t.cluster}/{name}"] = (t.cluster, name)
    return services


def verify(rec: PromotionRecord, gate: Gate, p: Promoter, *, bake: bool = True) -> Verdict:
    """The verdict on promoting `rec` now; `bake=False` skips the bake's own conditions (a person's promote)."""
    hold = Holds(p.table).get(rec.repository, rec.digest)
    if hold is not None:
        return Verdict("stop", f"{rec.repository}@{short(rec.digest)} is held since {hold.created_at}: {hold.reason}")
    targets = p.config.deploy.stage_targets(rec.repository, gate.from_stage)
    services = _stage_services(rec, targets, p)
    rows = Ledger(p.table).read_many(services)
    deployments = Deployments(p.table)
    for arn, (cluster, name) in services.items():
        row = rows[arn]
        if row.digest != rec.digest:
            now_runs = f"{short(row.digest)} ({row.tag})" if row.digest else "nothing Dockhand deployed"
            return Verdict("stop", f"{cluster}/{name} in {gate.from_stage} runs {now_runs}, not {short(rec.digest)}")
        record = deployments.get(row.deployment_id) if row.deployment_id else None
        status = record.status if record else "COMPLETED"  # an unchanged copy: nothing was deployed, nothing to wait
        if status == "IN_PROGRESS":
            if p.clock() > rec.bake_until + MAX_WAIT_AFTER_BAKE:
                return Verdict("stop", f"the deployment of {cluster}/{name} in {gate.from_stage} did not complete")
            return Verdict("wait", f"the deployment of {cluster}/{name} in {gate.from_stage} to complete")
        if status != "COMPLETED":
            why = f": {record.reason}" if record and record.reason else ""
            return Verdict("stop", f"the deployment of {cluster}/{name} in {gate.from_stage} {status.lower()}{why}")
    if not bake:
        return Verdict("ok")
    since = int(datetime.fromisoformat(rec.started_at).timestamp()) if rec.started_at else 0
    for cluster, name in services.values():
        failures = windows_since(p.table, cluster, f"service:{name}", since)
        if failures:
            cause, w = failures[0]
            at = datetime.fromtimestamp(w.anchor, UTC).isoformat(timespec="seconds")
            return Verdict("stop", f"a task of {cluster}/{name} failed during the bake ({cause}, at {at})")
    # The alarms are read where the earlier stage runs (its first target's account and Region).
    where = (targets[0].account, targets[0].region) if targets else (None, None)
    return _alarms(gate, p, *where)


def _alarms(gate: Gate, p: Promoter, account: str | None = None, region: str | None = None) -> Verdict:
    if not gate.alarms or p.cloudwatch is None:
        return Verdict("ok")
    states = alarm_states(gate.alarms, p, account, region)
    for name in gate.alarms:
        if states[name] == MISSING:
            return Verdict("stop", f"alarm {name} does not exist")
        if states[name] != "OK":
            return Verdict("stop", f"alarm {name} is {states[name]}")
    return Verdict("ok")


MISSING = "MISSING"


def alarm_states(
    names: tuple[str, ...] | list[str], p: Promoter, account: str | None = None, region: str | None = None
) -> dict[str, str]:
    """The state of each named CloudWatch alarm (metric or composite) of the declared account `account` (None:
    Dockhand's own) in `region`; MISSING for one that does not exist."""
    if not names or p.cloudwatch is None:
        return {}
    cloudwatch = p.cloudwatch_in(account, region)
    if cloudwatch is None:
        return {}
    try:
        found = cloudwatch.describe_alarms(AlarmNames=list(names), AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    except ClientError as exc:
        from dockhand.aws.clients import reraise_retryable

        reraise_retryable(exc, "cloudwatch:DescribeAlarms")
        raise
    states = {a["AlarmName"]: a["StateValue"] for a in found.get("MetricAlarms", []) + found.get("CompositeAlarms", [])}
    return {name: str(states.get(name, MISSING)) for name in names}
