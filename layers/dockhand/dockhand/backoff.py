"""Exponential backoff, the one formula behind restart delays (watch) and retry delays (batch). Pure."""

from __future__ import annotations


def exponential(base: float, multiplier: float, attempt: int, *, cap: float, floor: float = 0) -> int:
    """Seconds to wait after attempt `attempt` (1-based): base * multiplier^(attempt-1), within [floor, cap]."""
    return int(min(max(base * multiplier ** max(attempt - 1, 0), floor), cap))
