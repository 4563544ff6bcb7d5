"""Documents whose shell blocks are run as written: the README's local walkthrough and docs/getting-started.md.

A block is a fenced ```bash block; the words after `bash` on its opening line are its tag (`bash local`,
`bash real`, `bash local-up`; none for a plain block). The runner gives each block what a new user has: a
checkout-like directory (`.venv` and the folders the commands name), a shell without AWS or Dockhand settings,
and a first shell that runs `dockhand local up` while the others run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dockhand_local.stack import ROOT
from tests.support.local import wait_until

VENV = Path(sys.executable).parent.parent
GUIDE = ROOT / "docs" / "getting-started.md"
_FENCE = re.compile(r"^```bash(?P<tag>[^\n]*)\n(?P<text>.*?)^```$", flags=re.S | re.M)


@dataclass(frozen=True)
class Block:
    tag: str  # "" for a plain ```bash block
    text: str
    line: int  # the line of the opening fence, from 1

    @property
    def commands(self) -> list[str]:
        """The block's commands: continuation lines joined, comments and blank lines left out."""
        joined = re.sub(r"\\\n\s*", " ", self.text)
        return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def bash_blocks(document: Path, section: str | None = None) -> list[Block]:
    """The ```bash blocks of a Markdown document (or of one `## ` section of it), in order."""
    text = document.read_text(encoding="utf-8")
    start, end = 0, len(text)
    if section is not None:
        start = text.index(f"## {section}\n")
        found = text.find("\n## ", start + 1)
        end = found if found > 0 else end
    return [
        Block(m["tag"].strip(), m["text"], text.count("\n", 0, m.start()) + 1)
        for m in _FENCE.finditer(text, start, end)
    ]


def readme_blocks(section: str) -> list[str]:
    """The plain ```bash blocks of one `## ` section of README.md, in order."""
    return [b.text for b in bash_blocks(ROOT / "README.md", section) if not b.tag]


def clean_env() -> dict[str, str]:
    """A shell as a new user has it: no AWS settings, no Dockhand settings, no profile files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DOCKHAND_", "VIRTUAL_ENV"))}
    env.update({"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "NO_COLOR": "1"})
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(VENV)))
    return env


def checkout_dir(here: Path, *folders: str) -> Path:
    """`here` laid out like the repository's root for the commands of a document: `.venv` and copies of
    `folders` (the commands may write into them)."""
    (here / ".venv").symlink_to(VENV, target_is_directory=True)
    for folder in folders:
        shutil.copytree(ROOT / folder, here / folder)
    return here


@contextmanager
def first_shell(block: str, cwd: Path) -> Iterator[Path]:
    """Run `block` (which starts `dockhand local up`) in a shell of its own in `cwd`; yield the path of its output
    once `up` printed its `export` line (after the stack is ready); stop it at the end."""
    log_path = cwd / "up.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        ["bash", "-c", block], cwd=cwd, env=clean_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_until(lambda: "\nexport " in log_path.read_text() or process.poll() is not None, "up", 90)
        assert process.poll() is None, log_path.read_text()
        yield log_path
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)
        log.close()


def run_shell(script: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run `script` in a second shell (stopping at the first command that fails)."""
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
