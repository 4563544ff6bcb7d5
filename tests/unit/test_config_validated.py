"""The declarations' validated form: what a cold start loads instead of the YAML, and when it refuses to."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from dockhand.config import cached_config, load_config, validated
from dockhand.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DECLARATIONS = ROOT / "config" / "dockhand.yaml"


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    """The example declarations and their validated form, as the config layer ships them."""
    path = tmp_path / "dockhand.yaml"
    path.write_bytes(DECLARATIONS.read_bytes())
    validated.write(path)
    return path


def test_the_validated_form_is_the_config_the_file_gives(shipped: Path) -> None:
    # When a function loads the file's validated form / Then it is the config that parsing the file gives
    assert validated.read(shipped) == load_config(shipped)
    assert cached_config(str(shipped)) == load_config(shipped)


def test_loading_the_validated_form_parses_no_yaml_and_builds_no_validator(shipped: Path) -> None:
    script = (
        "import json, sys\n"
        "from dockhand.config import DockhandConfig, cached_config\n"
        "config = cached_config(sys.argv[1])\n"
        "print(json.dumps([len(config.deploy.targets), 'yaml' in sys.modules, DockhandConfig.__pydantic_complete__]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "dockhand")}
    # When a fresh interpreter (a cold start) reads the shipped declarations
    out = subprocess.run(
        [sys.executable, "-c", script, str(shipped)], env=env, capture_output=True, text=True, check=True
    )
    targets, yaml_imported, validator_built = json.loads(out.stdout)
    # Then it has the declarations, and neither a YAML parser nor a validator was needed
    assert targets == len(load_config(shipped).deploy.targets) > 0
    assert (yaml_imported, validator_built) == (False, False)


def test_a_changed_file_is_parsed_again(shipped: Path) -> None:
    # Given the file changed after its validated form was made
    shipped.write_text(shipped.read_text(encoding="utf-8").replace("keep_revisions: 10", "keep_revisions: 7", 1))
    assert load_config(shipped).deploy.keep_revisions == 7
    # When it is read / Then the stale form is not used: the config is the file's
    assert validated.read(shipped) is None
    assert cached_config(str(shipped)).deploy.keep_revisions == 7


def test_a_form_made_by_other_models_is_not_used(shipped: Path) -> None:
    form = validated.validated_path(shipped)
    payload = pickle.loads(form.read_bytes())
    # Given a form made by other models (an older layer)
    form.write_bytes(pickle.dumps(payload | {"models": "0" * 64}))
    # Then it is not used, and the file is
    assert validated.read(shipped) is None
    assert cached_config(str(shipped)) == load_config(shipped)


def test_an_unreadable_form_falls_back_to_the_file(shipped: Path) -> None:
    validated.validated_path(shipped).write_bytes(b"not a pickle")
    assert validated.read(shipped) is None
    assert cached_config(str(shipped)) == load_config(shipped)


def test_an_invalid_file_fails_the_build_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dockhand.yaml"
    path.write_text("jobs:\n  - name: x\n    schedule: rate(1 minute)\n    timezone: Mars/Olympus\n")
    # When the config layer is built from an invalid file / Then it fails with the field named, and writes nothing
    with pytest.raises(ConfigError, match="timezone"):
        validated.write(path)
    assert validated.main([str(path)]) == 1
    assert "jobs.0.timezone" in capsys.readouterr().err
    assert not validated.validated_path(path).exists()
