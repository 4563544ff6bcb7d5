"""One Logger and one Metrics for every module; the Tracer is created only when tracing is on.

Service name and namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE (template Globals).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "dockhand"))
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Dockhand"),
    service=os.environ.get("POWERTOOLS_SERVICE_NAME", "dockhand"),
)

__all__ = ["MetricUnit", "count", "logger", "metrics", "tracer"]


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Add a Count metric; dimensions (if any) go into their own EMF blob so they never leak onto others."""
    if not dimensions:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=value,
        namespace=metrics.namespace,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        for key, dim in dimensions.items():
            metric.add_dimension(name=key, value=dim)


@lru_cache(maxsize=1)
def tracer() -> Any:
    """The X-Ray tracer, imported lazily: aws-xray-sdk costs cold-start time and is off unless asked for."""
    from aws_lambda_powertools import Tracer

    return Tracer()
