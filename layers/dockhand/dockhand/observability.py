"""One Logger and one Metrics for every module; the Tracer is created only when tracing is on.

Tracing (TracingEnabled=true in template.yaml, which sets POWERTOOLS_TRACE_DISABLED=false) wraps each handler in
an X-Ray subsegment and patches botocore, so every AWS call is a subsegment of its own. Only botocore: an HTTP
patch would put the Slack webhook URL, a secret, into the traces. Off, the X-Ray SDK is never imported.

Service name and namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE (template Globals).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from typing import Any, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "dockhand"))
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Dockhand"),
    service=os.environ.get("POWERTOOLS_SERVICE_NAME", "dockhand"),
)

__all__ = ["MetricUnit", "count", "logger", "metrics", "traced", "tracer"]


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


def tracing_on() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").strip().lower() in ("false", "0")


@lru_cache(maxsize=1)
def tracer() -> Any:
    """The X-Ray tracer, imported lazily: aws-xray-sdk costs cold-start time and is off unless asked for."""
    from aws_lambda_powertools import Tracer

    return Tracer(patch_modules=["botocore"])


def traced[F: Callable[..., Any]](handler: F) -> F:
    """The handler inside an X-Ray subsegment when tracing is on; the handler itself (nothing imported) when off."""
    if not tracing_on():
        return handler
    return cast(F, tracer().capture_lambda_handler(handler, capture_response=False))
