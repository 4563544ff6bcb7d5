"""Image references are parsed like Docker parses them; matching is exact, never a substring."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockhand.images import ImageRef, ecr_registry, is_from, parse_image, pinned

ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (f"{ECR}/web:1.2", ImageRef(ECR, "web", "1.2")),
        (f"{ECR}/team/web", ImageRef(ECR, "team/web")),
        (f"{ECR}/web@sha256:abc", ImageRef(ECR, "web", None, "sha256:abc")),
        (f"{ECR}/web:1.2@sha256:abc", ImageRef(ECR, "web", "1.2", "sha256:abc")),
        ("localhost:5000/web:dev", ImageRef("localhost:5000", "web", "dev")),
        ("registry.local:5000/a/b", ImageRef("registry.local:5000", "a/b")),
        ("nginx:1.27", ImageRef(None, "nginx", "1.27")),
        ("library/nginx", ImageRef(None, "library/nginx")),
    ],
)
def test_parse_image(ref: str, expected: ImageRef) -> None:
    assert parse_image(ref) == expected
    assert str(parse_image(ref)) == ref


def test_exact_registry_and_repository_only() -> None:
    # The pushed repository's own image, tagged or pinned
    assert is_from(f"{ECR}/web:1", ECR, "web")
    assert is_from(f"{ECR}/web@sha256:ff", ECR, "web")
    # A look-alike repository, the same name in another registry, a prefix path: never
    assert not is_from(f"{ECR}/web-worker:1", ECR, "web")
    assert not is_from(f"{ECR}/team/web:1", ECR, "web")
    assert not is_from("999999999999.dkr.ecr.eu-west-1.amazonaws.com/web:1", ECR, "web")
    assert not is_from("web:1", ECR, "web")


def test_registry_and_pin() -> None:
    assert ecr_registry("123456789012", "eu-west-1") == ECR
    assert ecr_registry("123456789012", "cn-north-1").endswith(".amazonaws.com.cn")
    assert pinned(ECR, "web", "sha256:ff") == f"{ECR}/web@sha256:ff"


_name = st.from_regex(r"[a-z0-9]+([._-][a-z0-9]+)*", fullmatch=True)


@given(
    registry=st.sampled_from([ECR, "localhost:5000", "ghcr.io"]),
    path=st.lists(_name, min_size=1, max_size=3),
    tag=st.none() | st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True),
    digest=st.none() | st.from_regex(r"sha256:[0-9a-f]{64}", fullmatch=True),
)
def test_parse_round_trips(registry: str, path: list[str], tag: str | None, digest: str | None) -> None:
    ref = ImageRef(registry, "/".join(path), tag, digest)
    assert parse_image(str(ref)) == ref
