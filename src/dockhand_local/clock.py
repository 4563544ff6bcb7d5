"""The local clock: the process's time shifted to a start and running faster than the wall clock."""

from __future__ import annotations

import threading
import time
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
                self._traveller = time_machine.travel(moment.astimezone(UTC), tick=True)
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
