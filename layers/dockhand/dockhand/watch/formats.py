"""How the watcher writes times and durations in its notifications and stop history."""

from __future__ import annotations

from datetime import datetime


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def duration(seconds: float) -> str:
    """`42s`, `3m 5s`, `2h 10m`."""
    seconds = int(max(0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {sec}s" if sec else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m"


def subject(group: str, family: str) -> str:
    """What a stop's alert and its crash loop's summary are about: the group's name (a service, a family, a custom
    group), and the task-definition family when it differs (`web (web-td)`)."""
    _, _, name = group.partition(":")
    name = name or group
    if family and family != name:
        return f"{name} ({family})" if name else family
    return name


def subject_fields(cluster: str, group: str, family: str, cause_label: str) -> dict[str, str]:
    """The fields that name a stop's subject and cause, the same in an alert and in its crash loop's summary."""
    return {"Cluster": cluster, "Group": group, "Family": family, "Cause": cause_label}
