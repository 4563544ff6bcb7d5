"""What the Lambda layer ships is what the tests run with."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def pins_of(text: str) -> dict[str, str]:
    """name → version of every `name==version` line (names normalised as pip does: PEP 503)."""
    found = {}
    for line in text.splitlines():
        match = _PIN.match(line.strip())
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def test_every_layer_pin_equals_the_constraint_the_tests_run_with() -> None:
    # Given the layer's requirements and the development constraints
    layer = pins_of((ROOT / "layers" / "dockhand" / "requirements.txt").read_text(encoding="utf-8"))
    constraints = pins_of((ROOT / "constraints.txt").read_text(encoding="utf-8"))
    # Then the layer pins something, and each pin is the version the tests use
    assert len(layer) >= 5
    assert {name: constraints.get(name) for name in layer} == layer


def test_pins_are_read_as_pip_names_them() -> None:
    text = "PyYAML==6.0.4\nslack_sdk==3.48.0  # via x\n# comment==1\n    # via y\nboto3>=1.40\n"
    assert pins_of(text) == {"pyyaml": "6.0.4", "slack-sdk": "3.48.0"}
