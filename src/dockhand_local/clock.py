"""The local clock: the process's time shifted to a start and running faster than the wall clock."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LocalClock:
    """The process's clock, shifted to `start` and running `speed` times faster than the wall clock.

    Everything in the process reads it — handlers (crash-loop windows, backoffs, deadlines), moto (SQS delays,
    timestamps), the schedules — so delays that span minutes in AWS take seconds here and stay consistent.
    Monotonic clocks are untouched, so timeouts and waits still run in wall time. A clock at speed 1 that
    starts now is the wall clock: nothing is patched.
    """

    def __init__(self, start: datetime | None = None, speed: float = 1.0) -> None:
        self.speed = speed
        self._start = start
        self._traveller: Any = None
        self._coordinates: Any = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> LocalClock:
        if self._start is not None or self.speed != 1.0:
            self._travel(self._start or datetime.now(UTC))
        if self.speed != 1.0:
            threading.Thread(target=self._run, name="dockhand-local-clock", daemon=True).start()
        return self

    def _travel(self, moment: datetime) -> None:
        import time_machine

        with self._lock:
            if self._traveller is None:
                # A timestamp, not an aware datetime: time-machine would set TZ in os.environ, which the function
                # host swaps while a handler runs (and the process's local time zone is not the clock's business).
                self._traveller = time_machine.travel(moment.timestamp(), tick=True)
                self._coordinates = self._traveller.start()

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(0.02):
            now = time.monotonic()
            with self._lock:
                if self._coordinates is not None:
                    self._coordinates.shift((self.speed - 1.0) * (now - last))
            last = now

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            if self._traveller is not None:
                self._traveller.stop()
                self._traveller = self._coordinates = None

    def now(self) -> datetime:
        return datetime.now(UTC)

    def advance(self, seconds: float) -> datetime:
        self._travel(datetime.now(UTC))
        with self._lock:
            self._coordinates.shift(seconds)
        return self.now()

    def set(self, moment: datetime) -> datetime:
        return self.advance((moment.astimezone(UTC) - self.now()).total_seconds())


class Timers:
    """Every delayed action of the runtime, run by one thread: after some wall seconds, or when the local clock
    reaches a moment (so `advance-clock` brings it forward). Idle, the thread sleeps until the next one is due."""

    LOCAL_POLL = 0.1  # wall seconds between looks at the local clock while a local-clock timer waits

    def __init__(self, clock: LocalClock, on_error: Callable[[BaseException], None]) -> None:
        self.clock = clock
        self._on_error = on_error
        self._wall: list[tuple[float, int, Callable[[], None]]] = []  # heap of (monotonic due, seq, action)
        self._local: dict[int, tuple[datetime, Callable[[], None]]] = {}
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._stopped = False
        self._running = 0  # wall-clock actions being run now
        self._thread = threading.Thread(target=self._run, name="dockhand-local-timers", daemon=True)

    def start(self) -> Timers:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify_all()
        self._thread.join(timeout=5)

    def after(self, seconds: float, action: Callable[[], None]) -> int:
        """Run `action` after `seconds` of wall time; returns a handle for `cancel`."""
        with self._wake:
            seq = next(self._seq)
            heapq.heappush(self._wall, (time.monotonic() + seconds, seq, action))
            self._wake.notify_all()
            return seq

    def at(self, moment: datetime, action: Callable[[], None]) -> int:
        """Run `action` once the local clock reaches `moment`; returns a handle for `cancel`."""
        with self._wake:
            seq = next(self._seq)
            self._local[seq] = (moment, action)
            self._wake.notify_all()
            return seq

    def cancel(self, handle: int) -> bool:
        """Forget a timer that has not run; False when it ran already (or never existed)."""
        with self._wake:
            if self._local.pop(handle, None) is not None:
                return True
            for i, (_, seq, _) in enumerate(self._wall):
                if seq == handle:
                    self._wall.pop(i)
                    heapq.heapify(self._wall)
                    return True
            return False

    def pending(self) -> int:
        """Timers that will run without the local clock moving on: wall-clock ones (a deployment finishing, a
        job task ending shortly), local-clock ones already due, and those running now."""
        local_now = self.clock.now()
        with self._wake:
            return len(self._wall) + sum(m <= local_now for m, _ in self._local.values()) + self._running

    def _due(self) -> tuple[list[Callable[[], None]], float | None]:
        """The actions due now, and how long to sleep before the next look (None: until woken)."""
        now, local_now = time.monotonic(), self.clock.now()
        due: list[Callable[[], None]] = []
        while self._wall and self._wall[0][0] <= now:
            due.append(heapq.heappop(self._wall)[2])
        for seq in [s for s, (moment, _) in self._local.items() if moment <= local_now]:
            due.append(self._local.pop(seq)[1])
        waits = [self._wall[0][0] - now] if self._wall else []
        if self._local:
            waits.append(self.LOCAL_POLL)
        return due, (min(waits) if waits else None)

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stopped:
                    return
                due, wait = self._due()
                if not due:
                    self._wake.wait(wait)
                    continue
                self._running = len(due)
            for action in due:
                try:
                    action()
                except Exception as exc:  # a timer must never die silently
                    self._on_error(exc)
            with self._wake:
                self._running = 0
