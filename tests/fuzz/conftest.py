"""Print the figures of each property-based run at the end of the session (from every xdist worker's reports)."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = [
        f"{report.nodeid.rsplit('::', 1)[-1]}: {value}"
        for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", [])
        if report.when == "call"
        for key, value in report.user_properties
        if key == "fuzz"
    ]
    if lines:
        terminalreporter.section("property-based runs (cases per handler)")
        for line in sorted(lines):
            terminalreporter.write_line(line)
