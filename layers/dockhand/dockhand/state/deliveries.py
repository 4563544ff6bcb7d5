"""Which channels already delivered a notification, so a redelivered message retries only the failed ones."""

from __future__ import annotations

from dockhand.state.table import Table, ttl_after

_TTL = 7 * 86400


class Deliveries:
    def __init__(self, table: Table) -> None:
        self._t = table

    def delivered(self, key: str) -> set[str]:
        item = self._t.get(f"NOTIFY#{key}", "CHANNELS") or {}
        return set(item.get("channels") or ())

    def mark(self, key: str, channels: set[str]) -> None:
        if channels:
            self._t.update(
                f"NOTIFY#{key}",
                "CHANNELS",
                "ADD channels :c SET expires_at = :e",
                values={":c": set(channels), ":e": ttl_after(_TTL)},
            )
