"""The boto3 clients the wings are handed, as the calls they make (boto3's clients are built at run time, so
these say what a collaborator must answer to; a moto-backed client or the real one both do)."""

from __future__ import annotations

from typing import Any, Protocol


class SqsClient(Protocol):
    def send_message(self, **kwargs: Any) -> dict[str, Any]: ...


class SnsClient(Protocol):
    def publish(self, **kwargs: Any) -> dict[str, Any]: ...


class SchedulerClient(Protocol):
    def create_schedule(self, **kwargs: Any) -> dict[str, Any]: ...

    def update_schedule(self, **kwargs: Any) -> dict[str, Any]: ...

    def get_schedule(self, **kwargs: Any) -> dict[str, Any]: ...

    def delete_schedule(self, **kwargs: Any) -> dict[str, Any]: ...

    def list_schedules(self, **kwargs: Any) -> dict[str, Any]: ...
