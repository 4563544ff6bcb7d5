"""Tag policies and push ordering: pure functions over the declared TagPolicy.

Semver ranges use node-semver (npm semantics: `^1.2`, `~1.2`, `>=2 <3`); a pre-release satisfies a range only
when the policy allows pre-releases. Tags may carry a leading `v`.
"""

from __future__ import annotations

import fnmatch
import re
from datetime import datetime
from functools import lru_cache
from typing import Any

from dockhand.config import TagPolicy


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def semver_of(tag: str | None) -> Any:
    """The parsed semantic version of a tag (`2.1.0`, `v2.1.0-rc.1`), or None."""
    if not tag:
        return None
    import nodesemver

    try:
        return nodesemver.make_semver(tag[1:] if tag[:1] in "vV" else tag, loose=False)
    except (ValueError, TypeError):
        return None


def accepts(policy: TagPolicy, tag: str) -> bool:
    """Does `policy` take this pushed tag?"""
    if policy.kind == "exact":
        return tag == policy.pattern
    if policy.kind == "glob":
        return fnmatch.fnmatchcase(tag, policy.pattern)
    if policy.kind == "regex":
        return _regex(policy.pattern).fullmatch(tag) is not None
    version = semver_of(tag)
    if version is None:
        return False
    import nodesemver

    return bool(
        nodesemver.satisfies(version.version, policy.pattern, loose=False, include_prerelease=policy.prereleases)
    )


def is_older(
    policy: TagPolicy, tag: str, pushed_at: datetime, running_tag: str | None, running_pushed_at: datetime | None
) -> bool:
    """Is this push older than what runs? Lower semver under a semver policy; else an earlier push time."""
    if policy.kind == "semver":
        new, old = semver_of(tag), semver_of(running_tag)
        if new is not None and old is not None:
            cmp = new.compare(old)
            if cmp != 0:
                return bool(cmp < 0)
    if running_pushed_at is None:
        return False
    return pushed_at < running_pushed_at
