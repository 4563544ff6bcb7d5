"""The declarations validated once, when the config layer is built, and shipped beside dockhand.yaml.

A cold start that parses the YAML pays for a YAML parser, the models' validators and schemas, and what the validators
import (cron, time zones, semver ranges). `sam build` writes `dockhand.validated.pickle` beside the file instead
(config/Makefile runs `python -m dockhand.config.validated`), and a function loads the models from it as they were
after validation. It is used only when it was made from the very file beside it (its SHA-256) by the very models
this code has (their sources and pydantic's version); anything else, and the YAML is parsed and validated as
before. It is read only from beside the declarations, in the config layer this project builds.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import sys
from pathlib import Path
from typing import Any

import pydantic

from dockhand.config import DockhandConfig, load_config
from dockhand.errors import ConfigError

FORMAT = 1
SUFFIX = ".validated.pickle"
_PACKAGE = Path(__file__).resolve().parent
# What decides what a valid config is: the models, and the modules their validators use.
_MODEL_SOURCES = (
    *sorted(_PACKAGE.glob("*.py")),
    _PACKAGE.parent / "errors.py",
    _PACKAGE.parent / "schedule_expressions.py",
)
_log = logging.getLogger(__name__)


def validated_path(declarations: str | Path) -> Path:
    path = Path(declarations)
    return path.with_name(path.stem + SUFFIX)


def models_fingerprint() -> str:
    digest = hashlib.sha256(f"{FORMAT} {pydantic.VERSION} {sys.version_info[:2]}".encode())
    for source in _MODEL_SOURCES:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def write(declarations: str | Path, out: str | Path | None = None) -> Path:
    """Validate the file (a ConfigError names what is wrong) and write its validated form."""
    config = load_config(declarations)
    target = Path(out) if out else validated_path(declarations)
    payload = {
        "format": FORMAT,
        "models": models_fingerprint(),
        "source": hashlib.sha256(Path(declarations).read_bytes()).hexdigest(),
        "config": config,
    }
    target.write_bytes(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    return target


def read(declarations: str | Path) -> DockhandConfig | None:
    """The validated form shipped beside `declarations`, if it was made from that file by these models."""
    path = validated_path(declarations)
    try:
        payload: Any = pickle.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except Exception as exc:  # unreadable (another pydantic, a renamed class): the YAML still works
        _log.warning("validated config not used", extra={"path": str(path), "error": type(exc).__name__})
        return None
    expected = {"format": FORMAT, "models": models_fingerprint()}
    try:
        expected["source"] = hashlib.sha256(Path(declarations).read_bytes()).hexdigest()
    except OSError:
        return None
    if not isinstance(payload, dict) or any(payload.get(k) != v for k, v in expected.items()):
        _log.warning("validated config not used: made from another file or other models", extra={"path": str(path)})
        return None
    config = payload.get("config")
    return config if isinstance(config, DockhandConfig) else None


def main(argv: list[str] | None = None) -> int:
    """python -m dockhand.config.validated DECLARATIONS [OUT]"""
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        print("usage: python -m dockhand.config.validated DECLARATIONS [OUT]", file=sys.stderr)
        return 2
    try:
        print(write(*args))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
