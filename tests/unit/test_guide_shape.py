"""docs/getting-started.md keeps the promises its test relies on: each block says where it runs, every step the
emulator cannot take (a docker push, sam deploy) is followed by the local block that stands in for it, and no AWS
command sits in a block the test does not run. (tests/local/test_guide.py runs the guide itself.)"""

from __future__ import annotations

import re
import shlex

from dockhand_local.stack import ROOT
from tests.support.walkthrough import GUIDE, Block, bash_blocks

FIRST_LINE = {"real": "# for real:", "local": "# locally", "local-up": "# locally, in a first shell:"}
# The only AWS command the test cannot run: it hands Docker its registry password.
AWS_IN_REAL_BLOCKS = ("aws ecr get-login-password | docker login",)


def blocks() -> list[Block]:
    return bash_blocks(GUIDE)


def _pushes(block: Block) -> list[tuple[str, str]]:
    """(repository, tag) of each image a block's docker commands push to $REGISTRY."""
    pushed = []
    for command in block.commands:
        words = shlex.split(command.replace('"$REGISTRY/', '"REGISTRY/'))
        if words[:1] == ["docker"] and ("--push" in words or words[1:2] == ["push"]):
            image = next(w for w in words if w.startswith("REGISTRY/"))
            repository, tag = image.removeprefix("REGISTRY/").split(":")
            pushed.append((repository, tag))
    return pushed


def test_every_block_is_tagged_for_where_it_runs_and_says_so_in_its_first_line() -> None:
    # Given the guide's bash blocks
    found = blocks()

    # Then each is plain, real, local or local-up, and a tagged one opens with the words a reader sees
    assert {b.tag for b in found} <= {"", *FIRST_LINE}, [b.tag for b in found]
    for block in found:
        if block.tag:
            assert block.text.startswith(FIRST_LINE[block.tag]), f"line {block.line}: {block.text.splitlines()[0]}"
    # And one block starts the emulator, before any block the second shell runs
    ups = [i for i, b in enumerate(found) if b.tag == "local-up"]
    assert len(ups) == 1 and ups[0] == 0


def test_every_push_the_emulator_cannot_make_is_followed_by_its_put_image() -> None:
    # Given each block that pushes images with docker (real only), and the block after it
    found = blocks()
    real_pushes = [(i, _pushes(b)) for i, b in enumerate(found) if b.tag == "real" and _pushes(b)]
    assert len(real_pushes) >= 4  # the first images, 1.1.0, the broken 1.2.0, the fix

    for i, pushes in real_pushes:
        stand_in = found[i + 1]
        # Then that block is local and puts each pushed image with PutImage, same repository and tag
        assert stand_in.tag == "local", f"line {found[i].line}: the push has no local stand-in"
        for repository, tag in pushes:
            wanted = f"aws ecr put-image --repository-name {repository} --image-tag {tag} "
            assert any(c.startswith(wanted) for c in stand_in.commands), f"line {stand_in.line}: no {wanted}"


def test_sam_deploy_is_followed_by_the_local_deploy_of_the_same_file() -> None:
    # Given the block that deploys Dockhand for real
    found = blocks()
    (i,) = [i for i, b in enumerate(found) if any("sam deploy" in c for c in b.commands)]

    # Then the next block deploys the same declarations file to the emulator
    assert found[i].tag == "real" and found[i + 1].tag == "local"
    assert "dockhand local deploy-config config/dockhand.yaml" in found[i + 1].commands


def test_no_aws_command_hides_in_a_block_the_test_does_not_run() -> None:
    # Given the blocks only a reader on AWS runs
    skipped = [b for b in blocks() if b.tag == "real"]
    assert skipped

    # Then the aws commands among them are the one the emulator cannot serve
    for block in skipped:
        for command in block.commands:
            if re.match(r"(\S+=)?\$?\(?aws ", command):
                assert command.startswith(AWS_IN_REAL_BLOCKS), f"line {block.line}: {command}"


def test_every_example_file_the_guide_names_exists() -> None:
    # Given every path under examples/ the guide mentions
    named = set(re.findall(r"examples/[\w./*-]*[\w*]", GUIDE.read_text(encoding="utf-8")))
    assert len(named) >= 10

    # Then each exists (a pattern matches at least one file)
    missing = [path for path in sorted(named) if not list(ROOT.glob(path))]
    assert not missing, missing
