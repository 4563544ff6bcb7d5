"""Task-definition copies: clone the running definition faithfully, pin the new image, normalize, diff.

The writable field list is the RegisterTaskDefinition input shape of the botocore model loaded at run time, so
a field AWS adds tomorrow is carried as soon as botocore knows it. Read-only keys are stripped; a key that is
neither is refused (TaskDefinitionError), because silently dropping it would deploy a different task.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dockhand.errors import BadInputError
from dockhand.images import is_from

READ_ONLY = frozenset(
    {
        "compatibilities",
        "deleteRequestedAt",
        "deregisteredAt",
        "registeredAt",
        "registeredBy",
        "requiresAttributes",
        "revision",
        "status",
        "taskDefinitionArn",
    }
)
TAG_PREFIX = "dockhand:"
# Tag keys AWS reserves for itself: they can never be passed to RegisterTaskDefinition.
_RESERVED_TAG = re.compile(r"^aws:", re.IGNORECASE)


class TaskDefinitionError(BadInputError):
    """The running task definition cannot be copied as it is (unknown key, no container from the repository)."""


def writable_keys(service_model: Any) -> frozenset[str]:
    """Members of RegisterTaskDefinition's input, read from the botocore model (`client.meta.service_model`)."""
    return frozenset(service_model.operation_model("RegisterTaskDefinition").input_shape.members)


@dataclass(frozen=True)
class Clone:
    """What a copy would register, and which containers changed."""

    payload: dict[str, Any]
    containers: tuple[str, ...]


def register_payload(
    task_definition: Mapping[str, Any], tags: Iterable[Mapping[str, str]], writable: frozenset[str]
) -> dict[str, Any]:
    """RegisterTaskDefinition arguments that reproduce `task_definition` exactly (tags included)."""
    unknown = sorted(set(task_definition) - writable - READ_ONLY)
    if unknown:
        raise TaskDefinitionError(
            f"task definition {task_definition.get('taskDefinitionArn', '?')} has key(s) {unknown} that "
            "RegisterTaskDefinition does not take and that are not known to be read-only; refusing to copy it "
            "without them (update botocore)",
            reason="unknown_field",
        )
    payload = {k: v for k, v in task_definition.items() if k in writable and k != "tags" and v is not None}
    carried = [{"key": t["key"], "value": t.get("value", "")} for t in tags if not _RESERVED_TAG.match(t["key"])]
    if carried:
        payload["tags"] = carried
    return payload


def clone_for_image(
    task_definition: Mapping[str, Any],
    tags: Iterable[Mapping[str, str]],
    *,
    writable: frozenset[str],
    registry: str,
    repository: str,
    image: str,
    containers: Iterable[str] | None = None,
    record: Mapping[str, str] | None = None,
) -> Clone:
    """Copy `task_definition`; give `image` to the named containers (default: every container from registry/repository).

    `record` becomes `dockhand:*` task-definition tags (for example the pushed tag and digest).
    """
    payload = register_payload(task_definition, tags, writable)
    wanted = set(containers) if containers is not None else None
    defs = [dict(c) for c in payload.get("containerDefinitions", [])]
    if wanted is not None:
        missing = sorted(wanted - {c.get("name") for c in defs})
        if missing:
            raise TaskDefinitionError(
                f"task definition {task_definition.get('family')} has no container(s) {missing}",
                reason="container_not_found",
            )
    changed: list[str] = []
    for c in defs:
        hit = c.get("name") in wanted if wanted is not None else is_from(str(c.get("image", "")), registry, repository)
        if hit:
            c["image"] = image
            changed.append(str(c.get("name")))
    if not changed:
        raise TaskDefinitionError(
            f"task definition {task_definition.get('family')} has no container whose image is from "
            f"{registry}/{repository}",
            reason="no_matching_container",
        )
    payload["containerDefinitions"] = defs
    if record:
        kept = [t for t in payload.get("tags", []) if not t["key"].startswith(TAG_PREFIX)]
        payload["tags"] = kept + [{"key": f"{TAG_PREFIX}{k}", "value": v[:256]} for k, v in record.items()]
    return Clone(payload=payload, containers=tuple(changed))


def recorded(tags: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """What Dockhand recorded on a revision it registered (its `dockhand:*` tags), by name: tag, digest, …"""
    return {t["key"].removeprefix(TAG_PREFIX): t.get("value", "") for t in tags if t["key"].startswith(TAG_PREFIX)}


# --------------------------------------------------------------------------------------------- normalize

_SORT_KEYS: dict[str, tuple[str, ...]] = {
    "environment": ("name",),
    "secrets": ("name",),
    "portMappings": ("containerPort", "protocol", "name"),
    "mountPoints": ("sourceVolume", "containerPath"),
    "volumesFrom": ("sourceContainer",),
    "volumes": ("name",),
    "ulimits": ("name",),
    "extraHosts": ("hostname",),
    "systemControls": ("namespace",),
    "environmentFiles": ("value",),
    "dependsOn": ("containerName",),
    "resourceRequirements": ("type",),
    "placementConstraints": ("type", "expression"),
    "properties": ("name",),
    "tags": ("key",),
    "containerDefinitions": ("name",),
    "inferenceAccelerators": ("deviceName",),
}
_SORT_SCALARS = frozenset(
    {"requiresCompatibilities", "dnsServers", "dnsSearchDomains", "links", "dockerSecurityOptions"}
)
# What ECS fills in when a field is left out: equal to leaving it out.
_CONTAINER_DEFAULTS: dict[str, Any] = {"cpu": 0, "essential": True}
_PORT_DEFAULTS: dict[str, Any] = {"protocol": "tcp"}
_UNITS = re.compile(r"^\s*([\d.]+)\s*(vcpu|gb|mb)?\s*$", re.IGNORECASE)


def _units(key: str, value: Any) -> Any:
    if key not in ("cpu", "memory") or not isinstance(value, str):
        return value
    m = _UNITS.match(value)
    if not m:
        return value
    number, unit = float(m.group(1)), (m.group(2) or "").lower()
    factor = {"vcpu": 1024, "gb": 1024}.get(unit, 1)
    return str(int(number * factor))


def _clean(value: Any, key: str = "") -> Any:
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            v = _clean(_units(k, v), k)
            if v is None or v == [] or v == {}:
                continue
            out[k] = v
        if key == "containerDefinitions":
            out = {k: v for k, v in out.items() if _CONTAINER_DEFAULTS.get(k, object()) != v}
        if key == "portMappings":
            out = {k: v for k, v in out.items() if _PORT_DEFAULTS.get(k, object()) != v}
        return out
    if isinstance(value, list):
        items = [_clean(v, key) for v in value]
        if key in _SORT_KEYS and all(isinstance(i, Mapping) for i in items):
            fields = _SORT_KEYS[key]
            items.sort(key=lambda i: (*(str(i.get(f, "")) for f in fields), json.dumps(i, sort_keys=True)))
        elif key in _SORT_SCALARS:
            items.sort(key=str)
        return items
    return value


def normalize(payload: Mapping[str, Any], *, ignore_own_tags: bool = True) -> dict[str, Any]:
    """A canonical form: sorted lists, ECS-filled defaults and empty values dropped, units as numbers."""
    data = dict(payload)
    if ignore_own_tags and "tags" in data:
        data["tags"] = [t for t in data["tags"] if not t["key"].startswith(TAG_PREFIX)]
    return _clean(data)


def same_definition(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return normalize(a) == normalize(b)


# ------------------------------------------------------------------------------------------------- diff


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Readable changes between two payloads, one line each: `path: old → new` (normalized first)."""
    lines: list[str] = []
    _diff(normalize(old, ignore_own_tags=False), normalize(new, ignore_own_tags=False), "", lines)
    return lines


def _keyed(items: list[Any], key: str) -> dict[str, Any] | None:
    fields = _SORT_KEYS.get(key)
    if not fields or not all(isinstance(i, Mapping) and fields[0] in i for i in items):
        return None
    out = {str(i[fields[0]]): i for i in items}
    return out if len(out) == len(items) else None


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "…"


def _diff(old: Any, new: Any, path: str, lines: list[str]) -> None:
    if old == new:
        return
    key = path.rsplit(".", 1)[-1].split("[", 1)[0]
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for k in sorted(set(old) | set(new)):
            _diff(old.get(k), new.get(k), f"{path}.{k}" if path else k, lines)
        return
    if isinstance(old, list) and isinstance(new, list):
        a, b = _keyed(old, key), _keyed(new, key)
        if a is not None and b is not None:
            for k in sorted(set(a) | set(b)):
                _diff(a.get(k), b.get(k), f"{path}[{k}]", lines)
            return
    if old is None:
        lines.append(f"+ {path}: {_show(new)}")
    elif new is None:
        lines.append(f"- {path}: {_show(old)}")
    else:
        lines.append(f"~ {path}: {_show(old)} → {_show(new)}")
