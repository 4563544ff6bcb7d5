"""Hooks on moto's backends (in this process): where moto changes state but AWS would also emit an event.

Every client's call goes through them — the `aws` CLI, boto3 in a script, the handlers — because they wrap the
backend methods moto's HTTP layer calls: ECR PutImage, ECS UpdateService, RunTask and StopTask, SNS Publish
(which fails while the runtime holds SNS down).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from dockhand_local.ecs_sim import EcsSimulator
from dockhand_local.stack import ACCOUNT


def install(region: str, ecs_sim: EcsSimulator, sns_down: Callable[[], bool]) -> None:
    """Hook Dockhand's own account and Region: ECR, ECS and SNS."""
    from moto.ecr.models import ecr_backends
    from moto.sns.exceptions import SNSException
    from moto.sns.models import sns_backends

    ecr = ecr_backends[ACCOUNT][region]
    sns = sns_backends[ACCOUNT][region]
    original_publish = sns.publish
    original_put_image = ecr.put_image

    def put_image(
        repository_name: str,
        image_manifest: str,
        image_tag: str | None,
        image_manifest_mediatype: str | None = None,
        digest: str | None = None,
    ) -> Any:
        image = original_put_image(repository_name, image_manifest, image_tag, image_manifest_mediatype, digest)  # type: ignore[arg-type]
        ecs_sim.on_push(repository_name, image.get_image_digest(), image_tag or "")
        return image

    def publish(*args: Any, **kwargs: Any) -> Any:
        if sns_down():  # an outage: what SNS answers then (HTTP 500, retried by the SDK, then by the queue)
            raise SNSException("InternalError", "SNS is down (dockhand local channel-down sns)")
        return original_publish(*args, **kwargs)

    # moto's backends are plain objects: the instance attribute shadows the method for every caller.
    ecr.put_image = put_image  # type: ignore[method-assign]
    sns.publish = publish  # type: ignore[method-assign]
    install_ecs(ecs_sim, ((ACCOUNT, region),))


def install_ecs(ecs_sim: EcsSimulator, places: tuple[tuple[str, str], ...]) -> None:
    """Hook ECS in each (account, Region) of `places` (Dockhand's own, and the workload accounts')."""
    from moto.ecs.models import ecs_backends

    for account, region in places:
        _hook_ecs(ecs_backends[account][region], ecs_sim)


def _hook_ecs(ecs: Any, ecs_sim: EcsSimulator) -> None:
    original_update_service = ecs.update_service
    original_run_task = ecs.run_task
    original_stop_task = ecs.stop_task

    def update_service(service_properties: dict[str, Any]) -> Any:
        cluster = service_properties.get("cluster") or "default"
        name = str(service_properties.get("service", "")).split("/")[-1]
        before = ecs._get_service(cluster, name)
        previous_td = str(before.task_definition)
        previous_deployments = copy.deepcopy(before.deployments)
        force = bool(service_properties.get("force_new_deployment"))
        service = original_update_service(service_properties)
        if service.task_definition != previous_td or force:
            ecs_sim.on_update(service, previous_td, previous_deployments)
        return service

    def run_task(*args: Any, **kwargs: Any) -> Any:
        tasks = original_run_task(*args, **kwargs)
        for task in tasks:
            ecs_sim.on_run_task(task)
        return tasks

    def stop_task(cluster_str: str, task_str: str, reason: str) -> Any:
        task_id = task_str.rsplit("/", 1)[-1]
        was_running = any(
            task.last_status != "STOPPED"
            for tasks in ecs.tasks.values()
            for arn, task in tasks.items()
            if arn.endswith(task_id)
        )
        task = original_stop_task(cluster_str, task_str, reason)
        ecs_sim.on_stop_task(task, was_running, reason)
        return task

    ecs.update_service = update_service
    ecs.run_task = run_task
    ecs.stop_task = stop_task


def load_aws_managed_policies(load: bool) -> bool:
    """Whether moto's IAM makes the AWS managed policies (AmazonECSTaskExecutionRolePolicy …) in each new account;
    returns the setting it had. moto's HTTP config API does not take this one, so it is set in the process."""
    from moto.core.config import default_user_config

    iam = default_user_config.setdefault("iam", {})
    before = bool(iam.get("load_aws_managed_policies", False))
    iam["load_aws_managed_policies"] = load
    return before
