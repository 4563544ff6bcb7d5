"""Every AWS call a handler makes, seen from botocore's events on the clients the handler uses (each call with its
API parameters, as the code passed them).

A call that is not a read (Describe*, List*, Get*, Query, Scan, BatchGet*) changes something: RegisterTaskDefinition,
UpdateService, RunTask, StopTask, Publish, SendMessage, PutItem, UpdateItem, CreateSchedule… A SendMessage to the
function's DLQ is the park, and is told apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

READS = ("Describe", "List", "Get", "Query", "Scan", "BatchGet")
SERVICES = ("ecs", "sqs", "sns", "scheduler")


@dataclass
class AwsCalls:
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def install(self) -> AwsCalls:
        """Hook the clients `dockhand.deps` hands the handlers (build them now; they are cached until reset)."""
        from dockhand import deps

        for service in SERVICES:
            deps.client(service).meta.events.register("before-parameter-build", self._record)
        deps.table().raw.meta.client.meta.events.register("before-parameter-build", self._record)
        return self

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.service_model.service_name, model.name, params))

    def clear(self) -> None:
        self.calls.clear()

    def parks(self, dlq_url: str) -> list[dict[str, Any]]:
        """The SendMessage calls to the DLQ (the parked bodies and their attributes)."""
        return [p for _, op, p in self.calls if op == "SendMessage" and p.get("QueueUrl") == dlq_url]

    def mutations(self, dlq_url: str | None = None) -> list[str]:
        """`service:Operation` of every call that changes something, the park to `dlq_url` left out."""
        return [
            f"{service}:{op}"
            for service, op, params in self.calls
            if not op.startswith(READS) and not (op == "SendMessage" and params.get("QueueUrl") == dlq_url)
        ]
