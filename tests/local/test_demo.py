"""`make demo` itself: the whole story plays and every step is checked against the real state."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dockhand_local.stack import ROOT
from tests.local.test_end_to_end import BIN
from tests.support.walkthrough import clean_env

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local-runtime")]


def test_make_demo_plays_the_whole_story(tmp_path: Path) -> None:
    # Given a fresh state directory
    # When the demo runs (what `make demo` runs, once the virtualenv exists)
    out = subprocess.run(
        [str(BIN / "dockhand"), "local", "demo", "--state-dir", str(tmp_path / "demo")],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )

    # Then every step happened, and the summary says so
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "demo complete: every step happened" in out.stdout
    assert "checks passed" in out.stdout
