"""Environment settings, read once into a model. Logic never reads os.environ itself."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    """What template.yaml gives every function (Globals) or one function (its own Environment)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    config_path: str = Field("/opt/dockhand.yaml", alias="DOCKHAND_CONFIG")
    table_name: str = Field("dockhand", alias="DOCKHAND_TABLE")
    topic_arn: str | None = Field(None, alias="DOCKHAND_TOPIC_ARN")
    slack_secret: str | None = Field(None, alias="DOCKHAND_SLACK_SECRET")
    schedule_group: str = Field("dockhand", alias="DOCKHAND_SCHEDULE_GROUP")
    batch_queue_arn: str | None = Field(None, alias="DOCKHAND_BATCH_QUEUE_ARN")
    scheduler_role_arn: str | None = Field(None, alias="DOCKHAND_SCHEDULER_ROLE_ARN")
    dlq_url: str | None = Field(None, alias="DOCKHAND_DLQ_URL", description="Where bad input is parked")
    watch_queue_url: str | None = Field(
        None, alias="DOCKHAND_WATCH_QUEUE_URL", description="The watcher's own queue (delayed restarts, window closes)"
    )
    deploy_queue_url: str | None = Field(
        None, alias="DOCKHAND_DEPLOY_QUEUE_URL", description="The deploy queue (the deployer's notification retries)"
    )
    dry_run: bool = Field(False, alias="DOCKHAND_DRY_RUN")
    region: str = Field("us-east-1", alias="AWS_REGION")


@lru_cache(maxsize=1)
def settings() -> Settings:
    env = {k: v for k, v in os.environ.items() if k.startswith(("DOCKHAND_", "AWS_REGION"))}
    if "AWS_REGION" not in env and "AWS_DEFAULT_REGION" in os.environ:
        env["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"]
    return Settings.model_validate(env)
