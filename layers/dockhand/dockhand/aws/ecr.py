"""A thin adapter over ECR's DescribeImages: when an image was pushed, and which image a tag names now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dockhand.aws.clients import error_code, reraise_retryable

# What ECR answers for an image or a repository that is not there (or not visible to us).
NOT_FOUND = frozenset({"ImageNotFoundException", "RepositoryNotFoundException"})


@dataclass(frozen=True)
class EcrImage:
    digest: str
    pushed_at: datetime
    tags: tuple[str, ...] = ()


class Ecr:
    def __init__(self, client: Any) -> None:
        self._c = client

    def image(
        self, repository: str, registry_id: str, *, digest: str | None = None, tag: str | None = None
    ) -> EcrImage | None:
        """The image with this digest (or the one this tag names now); None when ECR does not have it."""
        image_id = {"imageDigest": digest} if digest else {"imageTag": str(tag)}
        try:
            out = self._c.describe_images(repositoryName=repository, registryId=registry_id, imageIds=[image_id])
        except Exception as exc:
            if error_code(exc) in NOT_FOUND:
                return None
            reraise_retryable(exc, "ecr:DescribeImages")
            raise
        details = out.get("imageDetails") or []
        if not details:
            return None
        found = details[0]
        return EcrImage(
            digest=str(found["imageDigest"]), pushed_at=found["imagePushedAt"], tags=tuple(found.get("imageTags", []))
        )
