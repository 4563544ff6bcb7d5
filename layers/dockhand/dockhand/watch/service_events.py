"""Service actions: an `ECS Service Action` WARN or ERROR (cannot place tasks, tasks keep failing to start,
throttling …) becomes one notification naming the service, the reason and the capacity providers involved."""

from __future__ import annotations

from dockhand import arns
from dockhand.events import ServiceAction
from dockhand.links import service_link
from dockhand.notify.model import Link, Notification
from dockhand.observability import count
from dockhand.watch.context import Watch

_TITLES = {
    "SERVICE_TASK_PLACEMENT_FAILURE": "cannot place tasks",
    "SERVICE_TASK_START_IMPAIRED": "tasks keep failing to start",
    "SERVICE_TASK_CONFIGURATION_FAILURE": "task configuration failure",
    "ECS_OPERATION_THROTTLED": "ECS throttled the service's operations",
    "SERVICE_DISCOVERY_INSTANCE_UNHEALTHY": "service discovery instance unhealthy",
}


def handle_service_action(event: ServiceAction, watch: Watch) -> str:
    detail = event.detail
    if detail.event_type not in ("WARN", "ERROR"):
        return "service:ignored"
    count("ServiceEvent", event=detail.event_name)
    watch.send(f"event/{event.id}", service_event_notification(event, event.region or watch.region))
    return f"service:{detail.event_name}"


def service_event_notification(event: ServiceAction, region: str) -> Notification:
    detail = event.detail
    arn_cluster, service = arns.cluster_and_service(event.service_arn)
    cluster = arns.last_part(detail.cluster_arn) or arn_cluster
    label = _TITLES.get(detail.event_name, detail.event_name.replace("_", " ").lower())
    fields = {"Cluster": cluster, "Service": service, "Event": detail.event_name}
    if detail.reason:
        fields["Reason"] = detail.reason
    if detail.capacity_provider_arns:
        fields["Capacity providers"] = ", ".join(arns.last_part(a) for a in detail.capacity_provider_arns)
    return Notification(
        kind="service_event",
        severity="error" if detail.event_type == "ERROR" else "warning",
        title=f"{service}: {label}",
        text=detail.reason or "",
        fields=fields,
        links=[Link(label="ECS console", url=service_link(cluster, service, "events", event.region or region))],
        cluster=cluster,
        service=service,
    )
