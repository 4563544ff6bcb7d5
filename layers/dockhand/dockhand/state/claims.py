"""Claims: the one way a flow does each of its steps once, across redeliveries, duplicates and faults.

A flow (a push on one service, a task event, a job run's attempt, a restart attempt, a notification) opens a
claim under a key it derives from its input. The claim is one DynamoDB item (pk `CLAIM#<scope>#<key>`, sk
`CLAIM`) that holds:

- **a lease**: the delivery that holds the claim (`owner`, the SQS message id) and until when. A second
  delivery of the same input (EventBridge and SQS deliver at least once) finds the lease held and is told to come
  back later (`ClaimBusy`, retryable); a redelivery of the same message (same owner) resumes at once; a lease that
  ran out (its Lambda died) is taken over.
- **the steps done so far and what each returned** (`steps`): a revision's ARN, a task's ARN, a deployment id,
  a message reference. `once(step, do, find)` runs `do` only when the step is not recorded; on a resumed claim it
  first asks `find` whether an earlier attempt did it but could not record it (a revision found by its tag, a task
  by its `startedBy`), so nothing is done twice.
- **the result**, once the flow is finished (`finish`). A later delivery of the same input finds the claim done
  and gets the stored result: it re-announces what the flow said to the channels that missed it, and does nothing
  else.

Every write is conditional on holding the lease, so a delivery whose lease was taken over stops at its next step
(`ClaimLost`, retryable) instead of acting beside the new holder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from dockhand.errors import RetryableError
from dockhand.state.table import Table

T = TypeVar("T")
ClaimState = Literal["new", "resumed", "done"]

# The delivery being handled (the SQS message id; it stays the same when SQS redelivers the message). Set by the
# handlers' record wrapper; a claim opened outside a delivery (the CLI, a test) gets an owner of its own.
current_delivery: ContextVar[str | None] = ContextVar("dockhand_delivery", default=None)

DEFAULT_LEASE = timedelta(minutes=10)  # longer than any function's timeout: a lease this old was abandoned
_TTL = timedelta(days=14)


class ClaimBusy(RetryableError):
    """Another delivery holds the claim and its lease is live: try again later (SQS redelivers)."""


class ClaimLost(RetryableError):
    """The lease ran out and another delivery took the claim over: stop; the holder finishes the flow."""


def _now() -> datetime:
    return datetime.now(UTC)


class Claim:
    """An open claim: what is recorded, and the means to record more while holding the lease."""

    def __init__(self, claims: Claims, pk: str, state: ClaimState, item: dict[str, Any]) -> None:
        self._claims = claims
        self.pk = pk
        self.state: ClaimState = state
        self.steps: dict[str, Any] = dict(item.get("steps") or {})
        self.result: Any = item.get("result")
        # Who opened the claim first: a resumed claim opened by another owner was taken over from it.
        self.opened_by: str | None = item.get("opened_by")

    @property
    def done(self) -> bool:
        return self.state == "done"

    def get(self, step: str) -> Any:
        return self.steps.get(step)

    def record(self, step: str, value: Any) -> None:
        """Record that `step` is done and what it returned (conditional on still holding the lease)."""
        self._claims._update(self.pk, "SET steps.#s = :v", {":v": value}, {"#s": step})
        self.steps[step] = value

    def record_steps(self, values: Mapping[str, Any], forget: Iterable[str] = ()) -> None:
        """Record several steps and drop others in one write (conditional on still holding the lease)."""
        sets, removes, names, vals = _step_changes(values, forget)
        if not sets and not removes:
            return
        expression = " ".join(
            p for p in (sets and "SET " + ", ".join(sets), removes and "REMOVE " + ", ".join(removes)) if p
        )
        self._claims._update(self.pk, expression, vals, names)
        self.steps.update(values)
        for step in forget:
            self.steps.pop(step, None)

    def take(self, values: Mapping[str, Any]) -> bool:
        """Record these steps only if none of them is recorded yet: True when this delivery took them all, False
        when one was recorded already (by an earlier attempt, or by another delivery a moment ago)."""
        sets, _, names, vals = _step_changes(values, ())
        if not sets:
            return True
        absent = " AND ".join(f"attribute_not_exists(steps.#s{i})" for i in range(len(sets)))
        if self._claims._update(self.pk, "SET " + ", ".join(sets), vals, names, also=absent):
            self.steps.update(values)
            return True
        self.steps = dict((self._claims._t.get(self.pk, "CLAIM") or {}).get("steps") or {})
        return False

    def forget(self, step: str) -> None:
        """Drop a recorded step (it turned out not to be done: a delivery that failed for sure)."""
        self._claims._update(self.pk, "REMOVE steps.#s", {}, {"#s": step})
        self.steps.pop(step, None)

    def once(self, step: str, do: Callable[[], T], find: Callable[[], T | None] | None = None) -> T:
        """The step's recorded result; else what an earlier attempt did (`find`, on a resumed claim); else `do()`.

        Whatever it comes from is recorded before it is returned. `do` must not return None."""
        if step in self.steps:
            return self.steps[step]  # type: ignore[no-any-return]
        value: T | None = find() if find is not None and self.state == "resumed" else None
        if value is None:
            value = do()
        self.record(step, value)
        return value

    def finish(self, result: Any = None) -> None:
        """The flow is done: store its result and release the lease (later deliveries see `done`)."""
        self._claims._update(
            self.pk,
            "SET #st = :done, #r = :r REMOVE lease_until",
            {":done": "done", ":r": result},
            {"#st": "state", "#r": "result"},
        )
        self.state, self.result = "done", result


class Claims:
    """Opens claims in the state table. `owner` defaults to the delivery being handled."""

    def __init__(
        self,
        table: Table,
        scope: str,
        *,
        owner: str | None = None,
        lease: timedelta = DEFAULT_LEASE,
        now: Callable[[], datetime] = _now,
    ) -> None:
        self._t = table
        self._scope = scope
        self._owner = owner
        self._lease = lease
        self._now = now

    @property
    def owner(self) -> str:
        return self._owner or current_delivery.get() or f"local-{id(self)}"

    def key(self, key: str) -> str:
        return f"CLAIM#{self._scope}#{key}"

    def peek(self, key: str) -> Claim | None:
        """The claim as stored, without taking it (None if it was never opened)."""
        item = self._t.get(self.key(key), "CLAIM")
        if item is None:
            return None
        return Claim(self, self.key(key), "done" if item.get("state") == "done" else "resumed", item)

    def open(self, key: str, steps: Mapping[str, Any] | None = None) -> Claim:
        """Take the claim for this delivery: new, resumed (an earlier attempt of ours, or an abandoned lease), or
        done (the stored result). ClaimBusy while another delivery holds a live lease.

        `steps` are recorded by the write that creates a new claim, as `take` would record them next (one write
        instead of two); a claim that exists already is opened as it is, and they are not recorded."""
        pk, now = self.key(key), self._now()
        until = int((now + self._lease).timestamp())
        item = {
            "pk": pk,
            "sk": "CLAIM",
            "state": "open",
            "owner": self.owner,
            "lease_until": until,
            "opened_at": now.isoformat(timespec="seconds"),
            "opened_by": self.owner,
            "steps": dict(steps or {}),
            "expires_at": int((now + _TTL).timestamp()),
        }
        if self._t.put(item, condition="attribute_not_exists(pk)"):
            return Claim(self, pk, "new", item)
        taken = self._t.update(
            pk,
            "CLAIM",
            "SET #o = :me, lease_until = :until",
            values={":me": self.owner, ":until": until, ":now": int(now.timestamp()), ":open": "open"},
            names={"#o": "owner", "#st": "state"},
            condition="#st = :open AND (#o = :me OR lease_until < :now)",
        )
        if taken is not None:
            return Claim(self, pk, "resumed", taken)
        current = self._t.get(pk, "CLAIM") or {}
        if current.get("state") == "done":
            return Claim(self, pk, "done", current)
        raise ClaimBusy(f"{pk} is held by another delivery until {current.get('lease_until')}")

    def _update(
        self, pk: str, expression: str, values: dict[str, Any], names: dict[str, str], also: str | None = None
    ) -> bool:
        """Update while holding the lease; with `also`, False when that extra condition does not hold."""
        done = self._t.update(
            pk,
            "CLAIM",
            expression,
            values={**values, ":me": self.owner},
            names={**names, "#o": "owner"},
            condition=f"#o = :me AND {also}" if also else "#o = :me",
        )
        if done is not None:
            return True
        current = self._t.get(pk, "CLAIM") if also else None
        if current is None or current.get("owner") != self.owner:
            raise ClaimLost(f"{pk}: the lease was taken over by another delivery")
        return False


def _step_changes(
    values: Mapping[str, Any], forget: Iterable[str]
) -> tuple[list[str], list[str], dict[str, str], dict[str, Any]]:
    """The SET and REMOVE clauses (with their names and values) that record `values` and drop `forget`."""
    names: dict[str, str] = {}
    vals: dict[str, Any] = {}
    sets: list[str] = []
    for i, (step, value) in enumerate(values.items()):
        names[f"#s{i}"], vals[f":v{i}"] = step, value
        sets.append(f"steps.#s{i} = :v{i}")
    removes: list[str] = []
    for i, step in enumerate(forget):
        names[f"#f{i}"] = step
        removes.append(f"steps.#f{i}")
    return sets, removes, names, vals
