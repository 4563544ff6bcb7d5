"""Container image references, parsed the way Docker does (never by substring).

`host:port/team/repo:tag@sha256:…` → registry `host:port`, repository `team/repo`, tag, digest. The first path
component is a registry only when it looks like a host (has a dot or a port, or is `localhost`); otherwise the
reference is a Docker Hub name with no registry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ImageRef:
    registry: str | None
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        base = f"{self.registry}/{self.repository}" if self.registry else self.repository
        if self.tag:
            base += f":{self.tag}"
        if self.digest:
            base += f"@{self.digest}"
        return base


def parse_image(ref: str) -> ImageRef:
    rest = ref.strip()
    digest: str | None = None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
    registry: str | None = None
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, rest = first, remainder
    tag: str | None = None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, tag = rest.rsplit(":", 1)
    return ImageRef(registry=registry, repository=rest, tag=tag, digest=digest)


def is_from(image: str, registry: str, repository: str) -> bool:
    """True when `image` comes from exactly this registry and repository."""
    ref = parse_image(image)
    return ref.registry == registry and ref.repository == repository


def pinned(registry: str, repository: str, digest: str) -> str:
    return f"{registry}/{repository}@{digest}"


def ecr_registry(account: str, region: str) -> str:
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{suffix}"


_ECR_HOST = re.compile(r"^(?P<account>[0-9]{12})\.dkr\.ecr(-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


def ecr_place(image: str) -> tuple[str, str] | None:
    """(account, Region) of the ECR registry `image` comes from; None for an image of another registry."""
    found = _ECR_HOST.match(parse_image(image).registry or "")
    return (found["account"], found["region"]) if found else None
