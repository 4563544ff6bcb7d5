"""A thin adapter over the ECS API: the calls every wing makes, with batching, error typing and call counting.

Each method maps one-to-one onto an ECS action; retryable failures become RetryableError (the message retries),
everything else propagates as botocore's ClientError for the caller to turn into a typed error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from dockhand import arns
from dockhand.aws.clients import reraise_retryable

DESCRIBE_SERVICES_BATCH = 10  # the API's maximum per call


class Ecs:
    def __init__(self, client: Any) -> None:
        self._c = client
        self.calls: Counter[str] = Counter()  # action name -> calls made through this adapter

    def _call(self, action: str, **kwargs: Any) -> Any:
        self.calls[action] += 1
        from botocore import xform_name  # the SDK's own Action → method_name mapping

        method = getattr(self._c, xform_name(action))
        try:
            return method(**kwargs)
        except Exception as exc:
            reraise_retryable(exc, f"ecs:{action}")
            raise

    # ------------------------------------------------------------------------------------------ services
    def describe_services(self, cluster: str, services: Sequence[str]) -> tuple[list[dict[str, Any]], list[dict]]:
        """All services of one cluster, 10 per call. Returns (services, failures)."""
        found: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        for start in range(0, len(services), DESCRIBE_SERVICES_BATCH):
            chunk = list(services[start : start + DESCRIBE_SERVICES_BATCH])
            out = self._call("DescribeServices", cluster=cluster, services=chunk)
            found += out.get("services", [])
            failures += out.get("failures", [])
        return found, failures

    def update_service(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("UpdateService", **kwargs)["service"]

    def list_services(self, cluster: str) -> list[str]:
        return self._paged("ListServices", "serviceArns", cluster=cluster)

    # ---------------------------------------------------------------------------------- task definitions
    def describe_task_definition(self, task_definition: str, with_tags: bool = True) -> tuple[dict, list[dict]]:
        """(taskDefinition, tags). Tags are only returned with include=['TAGS']."""
        kwargs: dict[str, Any] = {"taskDefinition": task_definition}
        if with_tags:
            kwargs["include"] = ["TAGS"]
        out = self._call("DescribeTaskDefinition", **kwargs)
        return out["taskDefinition"], out.get("tags", [])

    def register_task_definition(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("RegisterTaskDefinition", **kwargs)["taskDefinition"]

    def deregister_task_definition(self, arn: str) -> None:
        self._call("DeregisterTaskDefinition", taskDefinition=arn)

    def list_task_definitions(self, family: str, status: str = "ACTIVE") -> list[str]:
        """ARNs of a family, oldest first."""
        found = self._paged("ListTaskDefinitions", "taskDefinitionArns", familyPrefix=family, status=status, sort="ASC")
        return [a for a in found if arns.family(a) == family]

    def newest_task_definitions(self, family: str, limit: int = 10) -> list[str]:
        """The newest ACTIVE revisions of a family, newest first (one call; sorted here too, as moto ignores `sort`)."""
        out = self._call(
            "ListTaskDefinitions", familyPrefix=family, status="ACTIVE", sort="DESC", maxResults=max(1, min(limit, 100))
        )
        found = [a for a in out.get("taskDefinitionArns", []) if arns.family(a) == family]
        return sorted(found, key=lambda a: arns.revision(a) or 0, reverse=True)

    # --------------------------------------------------------------------------------------------- tasks
    def run_task(self, **kwargs: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(tasks, failures). A 200 with failures[] is not an exception: the caller must look."""
        out = self._call("RunTask", **kwargs)
        return out.get("tasks", []), out.get("failures", [])

    def stop_task(self, cluster: str, task: str, reason: str) -> dict[str, Any]:
        return self._call("StopTask", cluster=cluster, task=task, reason=reason[:255])["task"]

    def describe_tasks(self, cluster: str, tasks: Iterable[str]) -> list[dict[str, Any]]:
        arns = list(tasks)
        found: list[dict[str, Any]] = []
        for start in range(0, len(arns), 100):
            out = self._call("DescribeTasks", cluster=cluster, tasks=arns[start : start + 100], include=["TAGS"])
            found += out.get("tasks", [])
        return found

    def list_tasks(self, cluster: str, **filters: Any) -> list[str]:
        return self._paged("ListTasks", "taskArns", cluster=cluster, **filters)

    def _paged(self, action: str, key: str, **kwargs: Any) -> list[str]:
        """Every page of a List* action (each page is one counted call)."""
        items: list[str] = []
        while True:
            out = self._call(action, **kwargs)
            items += out.get(key, [])
            if not out.get("nextToken"):
                return items
            kwargs["nextToken"] = out["nextToken"]

    # -------------------------------------------------------------------------------------------- model
    @property
    def service_model(self) -> Any:
        """The botocore model of the ECS API this client speaks (loaded at run time, never a copy)."""
        return self._c.meta.service_model
