"""Read the EMF blobs Powertools Metrics prints to stdout."""

from __future__ import annotations

import json
from typing import Any


def emf_blobs(stdout: str) -> list[dict[str, Any]]:
    blobs = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{") and '"_aws"' in line:
            blobs.append(json.loads(line))
    return blobs


def metric_total(stdout: str, name: str, **dimensions: str) -> float:
    """Sum of metric `name` over every blob whose dimensions include the given ones."""
    total = 0.0
    for blob in emf_blobs(stdout):
        if name not in blob:
            continue
        if any(blob.get(k) != v for k, v in dimensions.items()):
            continue
        value = blob[name]
        total += sum(value) if isinstance(value, list) else value
    return total
