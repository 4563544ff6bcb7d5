"""The README's local walkthrough, run exactly as written: the first block of "Local runtime" in one shell,
the second in another, in a directory laid out like a checkout (`.venv`, `config/`). When a line of the README
stops working, this test fails on that line.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.walkthrough import VENV, checkout_dir, clean_env, first_shell, readme_blocks, run_shell

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local-runtime")]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory laid out like the repository's root (the README's commands are relative to it), with the
    README's first block (`dockhand local up`) running in it."""
    here = checkout_dir(tmp_path_factory.mktemp("readme"), "config")
    with first_shell(readme_blocks("Local runtime")[0], here):
        yield here


def test_the_up_line_prints_an_export_line_that_works_as_printed(checkout: Path) -> None:
    # Given `dockhand local up` as the README starts it
    printed = (checkout / "up.log").read_text()
    (export,) = [line for line in printed.splitlines() if line.startswith("export ")]

    # When that line is pasted into a new shell, with the aws CLI and boto3
    aws, python = VENV / "bin" / "aws", VENV / "bin" / "python"
    script = f"""
{export}
{aws} cloudformation describe-stacks --stack-name "$DOCKHAND_STACK" --query 'Stacks[0].StackStatus' --output text
{python} -c 'import boto3; print(boto3.client("sqs").list_queues()["QueueUrls"][0])'
"""
    out = subprocess.run(["bash", "-ec", script], env=clean_env(), capture_output=True, text=True, timeout=120)

    # Then both clients reach the runtime in its Region (AWS_DEFAULT_REGION), and the stack is there
    assert out.returncode == 0, out.stderr
    status, queue = out.stdout.split()
    assert status == "CREATE_COMPLETE"
    endpoint = json.loads((checkout / ".dockhand" / "local.json").read_text())["endpoint"]
    assert queue.startswith(endpoint)


def test_the_walkthrough_runs_as_written(checkout: Path) -> None:
    # Given the README's second block, line for line
    walkthrough = readme_blocks("Local runtime")[1]

    # When it runs in a second shell (stopping at the first line that fails)
    out = run_shell(walkthrough, checkout)
    assert out.returncode == 0, f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}"

    # Then the push of web:1.1.0 deployed: describe-services printed the service's new revision
    assert re.search(r"^arn:aws:ecs:us-east-1:123456789012:task-definition/web:2$", out.stdout, flags=re.M)
    # And after staging's bake production waited for an approval; the local Slack's signed press was taken (200)
    # and production (cluster prod) then ran the same revision
    status = out.stdout[out.stdout.index("staging -> production") :].splitlines()[0]
    assert "awaiting_approval" in status and "U0RELEASE" in status, out.stdout
    assert re.search(r"^200 .*approved", out.stdout, flags=re.M | re.I), out.stdout
    # and production, in the other account and Region, then ran what staging ran (the second `status`)
    after = out.stdout[out.stdout.index("Approved by U0RELEASE") :]
    staging = re.search(r"^staging: runs web:1\.1\.0 (sha256:[0-9a-f]+)", after, flags=re.M)
    production = re.search(r"^production: runs web:1\.1\.0 (sha256:[0-9a-f]+)", after, flags=re.M)
    assert staging and production and staging[1] == production[1], after[:2000]
    # And the rolled-back web:1.2.0 is held
    assert re.search(r"web\s.*sha256:[0-9a-f]{64}.*1\.2\.0", out.stdout), out.stdout
    # And the job's run failed once (exit 1 after its run time) and then succeeded
    history = next(line for line in out.stdout.splitlines() if "run_now" in line)
    assert "succeeded" in history, out.stdout
    # And the stops of web are in its history (the crash loop and the one during the Slack outage)
    assert "exit=137" in out.stdout and "exit=1 " in out.stdout
    # And the timeline shows Slack beside SNS: a refused request while down, and the alert posted after
    timeline = out.stdout[out.stdout.rindex("runtime   moto on") :]
    assert "Slack refused a request (down)" in timeline
    after_outage = timeline[timeline.index("slack is up again") :]
    assert re.search(r"Slack post in #deploys: .*web: application exited with an error", after_outage), timeline
    assert "SNS:" in timeline
