"""What runs on a service, and whether a push is older than it: never backwards, said in the policy's language.

What runs is known, best first, from
1. the ledger row, while the service runs the revision the row names (Dockhand deployed it);
2. the `dockhand:*` tags of the revision it runs (Dockhand registered it, the row is gone or stale);
3. the image reference of the revision it runs (someone else deployed it): its tag, its digest.

A push is older (`compare`) when its version is lower under a semver policy; otherwise, or when the versions are
equal, when it was pushed before what runs. An image reference alone carries no push time: it is read from ECR
(`DescribeImages`) by the running digest, or by the running tag when that is not the pushed tag. When the running
image cannot be dated at all (a tag reference such as `web:latest` under a policy that takes `latest`), the safe
rule decides (`judge`): a tag only moves on to later pushes, so the push is deployed only while its tag still
names it in ECR — it is then the newest push of that tag — and the notification says the running image could not
be dated; when the tag names another image the push is skipped as older, and when ECR cannot say, it is skipped
and the notification says why.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import ClientError

from dockhand import images
from dockhand.aws.ecr import Ecr, EcrImage
from dockhand.config import DeployTarget, TagPolicy
from dockhand.deploy import taskdef
from dockhand.deploy.context import Push
from dockhand.deploy.policy import semver_of
from dockhand.observability import logger
from dockhand.state.ledger import LedgerRow


@dataclass(frozen=True, kw_only=True)
class Running:
    """What a service runs, as far as it can be known, and how it was known."""

    how: Literal["ledger", "tags", "image", "nothing"]
    repository: str = ""
    digest: str | None = None
    tag: str | None = None
    pushed_at: datetime | None = None
    reference: str | None = None  # the image reference the running revision names

    @property
    def label(self) -> str:
        """How people name it: `repo:tag (sha256:…)`, or the reference as the task definition has it."""
        name = f"{self.repository}:{self.tag}" if self.tag else (self.reference or self.repository)
        return f"{name} ({short(self.digest)})" if self.digest else name


@dataclass(frozen=True)
class Verdict:
    """Whether to deploy, why not (`reason`), and what decided when it is worth saying (`text`)."""

    deploy: bool
    reason: str = ""
    text: str = ""


def short(digest: str | None) -> str:
    """`sha256:` and the first 12 hex digits, as `docker images` shows a digest."""
    if not digest:
        return "unknown digest"
    algorithm, _, value = digest.partition(":")
    return f"{algorithm}:{value[:12]}" if value else digest[:19]


def when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# ------------------------------------------------------------------------------------------ what runs


def from_row(row: LedgerRow, repository: str) -> Running:
    return Running(how="ledger", repository=repository, digest=row.digest, tag=row.tag, pushed_at=row.pushed_time)


def from_revision(
    td: dict[str, Any], tags: list[dict[str, str]], push: Push, target: DeployTarget, repository: str
) -> Running:
    """What the running revision says of itself: the push Dockhand recorded in its tags, else its image."""
    recorded = taskdef.recorded(tags)
    if recorded.get("digest"):
        try:
            pushed = datetime.fromisoformat(recorded.get("pushed-at", ""))
        except ValueError:
            pushed = None
        return Running(
            how="tags", repository=repository, digest=recorded["digest"], tag=recorded.get("tag"), pushed_at=pushed
        )
    registry = target.registry or push.default_registry
    for container in td.get("containerDefinitions", []):
        image = str(container.get("image", ""))
        wanted = target.containers is None and images.is_from(image, registry, repository)
        if wanted or (target.containers is not None and container.get("name") in target.containers):
            ref = images.parse_image(image)
            mine = ref.registry == registry and ref.repository == repository
            return Running(
                how="image",
                repository=repository,
                digest=ref.digest if mine else None,
                tag=ref.tag if mine else None,
                reference=image,
            )
    return Running(how="nothing", repository=repository)


# ------------------------------------------------------------------------------------------ the order


def compare(policy: TagPolicy, push: Push, running: Running, service: str) -> Verdict | None:
    """Is `push` older than what runs? None when nothing known decides it (an image reference without a push
    time)."""
    if running.digest == push.digest:
        return Verdict(True)  # the same image: nothing to order (an unchanged copy registers nothing)
    if policy.kind == "semver":
        new, old = semver_of(push.tag), semver_of(running.tag)
        if new is not None and old is not None and new.compare(old) != 0:
            if new.compare(old) > 0:
                return Verdict(True)
            text = f"{push.image} is a lower version than {running.label}, which runs on {service}"
            return Verdict(False, "older", text)
    if running.pushed_at is not None:
        if push.pushed_at >= running.pushed_at:
            return Verdict(True)
        text = (
            f"{push.image} ({short(push.digest)}, pushed {when(push.pushed_at)}) was pushed before "
            f"{running.label}, pushed {when(running.pushed_at)}, which runs on {service}"
        )
        return Verdict(False, "older", text)
    if running.how == "image":
        return None
    return Verdict(True)  # recorded by Dockhand without a push time, or nothing from this repository runs


def judge(policy: TagPolicy, push: Push, running: Running, service: str, ecr: Ecr | None) -> Verdict:
    """`compare`, dating an undated running image in ECR first; the safe rule when it cannot be dated."""
    decided = compare(policy, push, running, service)
    if decided is not None:
        return decided
    dated = _dated(push, running, ecr)
    if dated is not None:
        return compare(policy, push, dated, service) or Verdict(True)
    return _safe_rule(push, running, service, ecr)


def _ask(ecr: Ecr | None, push: Push, **image: str) -> EcrImage | None:
    """An image of the pushed repository in ECR; None when ECR does not have it or will not say."""
    if ecr is None:
        return None
    try:
        return ecr.image(push.repository, push.account, **image)
    except ClientError as exc:
        logger.warning("ECR cannot describe the image", extra={"repository": push.repository, "error": str(exc)})
        return None


def _dated(push: Push, running: Running, ecr: Ecr | None) -> Running | None:
    """The running image with its push time from ECR: by its digest, or by its tag when that is not the pushed
    one (the pushed tag names the pushed image now). None when it cannot be dated."""
    if running.digest:
        found = _ask(ecr, push, digest=running.digest)
    elif running.tag and running.tag != push.tag:
        found = _ask(ecr, push, tag=running.tag)
    else:
        return None
    if found is None:
        return None
    tag = running.tag or next(iter(found.tags), None)  # a digest reference is named by its tag in ECR
    return replace(running, digest=found.digest, pushed_at=found.pushed_at, tag=tag)


def _safe_rule(push: Push, running: Running, service: str, ecr: Ecr | None) -> Verdict:
    """The running image cannot be dated: deploy the push only while its tag still names it in ECR."""
    undated = f"the image {service} runs ({running.reference or 'none from ' + push.repository}) cannot be dated"
    pushed = f"{short(push.digest)}, pushed {when(push.pushed_at)}"
    now = _ask(ecr, push, tag=push.tag)
    if now is None:
        text = (
            f"Not deployed: {undated}, and ECR cannot say which image {push.tag} names now, so {push.image} "
            f"({pushed}) cannot be ordered against it. Pin the running image by digest (…@sha256:…) so that "
            "its push time can be read."
        )
        return Verdict(False, "order_unknown", text)
    if now.digest == push.digest:
        text = (
            f"Deployed although {undated}: {push.tag} still names this image in ECR ({pushed}), so it is the "
            f"newest push of {push.tag}."
        )
        return Verdict(True, "", text)
    text = (
        f"{push.image} ({pushed}) is no longer the newest push of {push.tag}: ECR has it name "
        f"{short(now.digest)} (pushed {when(now.pushed_at)}) now; {undated}, so only the newest push of a tag "
        "is deployed"
    )
    return Verdict(False, "older", text)
