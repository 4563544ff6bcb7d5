"""The bench's one table: a row per figure, each goal beside the figure it judges, as Markdown (the terminal and the
README show the same text)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

COLUMNS = ("figure", "measure", "value", "goal", "met")


@dataclass(frozen=True)
class Row:
    figure: str
    measure: str
    value: str
    goal: str = ""
    met: bool | None = None  # None: a figure without a goal

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Result:
    """What one figure's measurement gives: its rows for the table and its numbers for bench.json."""

    rows: list[Row]
    data: dict[str, Any] = field(default_factory=dict)


def mark(met: bool | None) -> str:
    return "" if met is None else ("met" if met else "NOT MET")


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render(rows: Iterable[Row]) -> str:
    """A GitHub Markdown table; a figure's name is written on its first row only."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    previous = None
    for row in rows:
        figure = row.figure if row.figure != previous else ""
        previous = row.figure
        cells = (figure, row.measure, row.value, row.goal, mark(row.met))
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def ms(value: float) -> str:
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def ratio(value: float) -> str:
    return f"{value:.2f}x"


def counts(calls: dict[str, int]) -> str:
    """`ecs:UpdateService 12, dynamodb:PutItem 3` → grouped by service: `ecs 16 (UpdateService 12, …); dynamodb …`."""
    by_service: dict[str, dict[str, int]] = {}
    for key, n in calls.items():
        service, _, action = key.partition(":")
        by_service.setdefault(service, {})[action] = by_service.get(service, {}).get(action, 0) + n
    parts = []
    for service, actions in sorted(by_service.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])):
        inner = ", ".join(f"{a} {n}" for a, n in sorted(actions.items(), key=lambda kv: (-kv[1], kv[0])))
        parts.append(f"{service} {sum(actions.values())} ({inner})")
    return "; ".join(parts) if parts else "none"


README_START, README_END = "<!-- bench-table -->", "<!-- /bench-table -->"


def with_table(readme: str, table: str, note: str) -> str:
    """The README with the table between its bench-table markers replaced (the markers stay)."""
    start, end = readme.index(README_START) + len(README_START), readme.index(README_END)
    return readme[:start] + "\n" + note.strip() + "\n\n" + table + readme[end:]
