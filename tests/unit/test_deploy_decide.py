"""The ledger decision for one push on one service (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dockhand.config import DeployTarget
from dockhand.deploy.admission import decide
from dockhand.deploy.context import Push
from dockhand.state.ledger import Claim, LedgerRow

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
TARGET = DeployTarget(repository="web", tags="semver:^2.0", cluster="prod", services=["web"])
ARN = "arn:aws:ecs:us-east-1:123456789012:service/prod/web"


def push(tag: str = "2.1.0", digest: str = "sha256:" + "a" * 64, event_id: str = "e-1") -> Push:
    return Push(
        event_id=event_id,
        repository="web",
        tag=tag,
        digest=digest,
        pushed_at=NOW - timedelta(minutes=5),
        account="123456789012",
        region="us-east-1",
    )


def claim_of(p: Push, *, age: timedelta = timedelta(0), event_id: str | None = None) -> Claim:
    return Claim(
        digest=p.digest,
        tag=p.tag,
        pushed_at=p.pushed_at.isoformat(),
        event_id=event_id or p.event_id,
        claimed_at=(NOW - age).isoformat(),
    )


def test_first_push_claims() -> None:
    assert decide(LedgerRow(service_arn=ARN), push(), TARGET, NOW)[0] == "claim"


def test_running_digest_is_skipped() -> None:
    row = LedgerRow(service_arn=ARN, version=2, digest=push().digest, tag="2.1.0", pushed_at=NOW.isoformat())
    assert decide(row, push(event_id="other"), TARGET, NOW) == ("skip", "already_running")


def test_older_semver_is_skipped() -> None:
    row = LedgerRow(
        service_arn=ARN,
        version=2,
        digest="sha256:" + "f" * 64,
        tag="2.15.0",
        pushed_at=(NOW - timedelta(hours=1)).isoformat(),
    )
    assert decide(row, push("2.13.9"), TARGET, NOW) == ("skip", "older")
    assert decide(row, push("2.16.0"), TARGET, NOW)[0] == "claim"


def test_own_claim_resumes_a_stranger_waits_until_the_lease_ends() -> None:
    p = push()
    mine = LedgerRow(service_arn=ARN, version=1, claim=claim_of(p))
    assert decide(mine, p, TARGET, NOW)[0] == "resume"
    assert decide(mine, push(event_id="e-2"), TARGET, NOW)[0] == "busy"
    stale = LedgerRow(service_arn=ARN, version=1, claim=claim_of(p, age=timedelta(hours=1)))
    assert decide(stale, push(event_id="e-2"), TARGET, NOW)[0] == "resume"


def test_another_push_in_flight_makes_this_one_wait() -> None:
    other = push("2.0.5", "sha256:" + "e" * 64, "e-9")
    row = LedgerRow(service_arn=ARN, version=1, claim=claim_of(other))
    assert decide(row, push(), TARGET, NOW)[0] == "busy"
