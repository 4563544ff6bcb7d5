# Every target builds the virtualenv it needs from python3.13 (selected by .python-version).
SHELL := /bin/bash
PYTHON ?= $(shell pyenv which python3.13 2>/dev/null || command -v python3.13)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: venv demo test test-fast unit fuzz lint check build bench schema deploy clean lock

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "python3.13 not found: install it (pyenv install 3.13) and retry" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: venv
	$(BIN)/dockhand local demo

test: venv lint
	$(BIN)/pytest -n 2 --dist loadgroup -m "not fuzz"

# The unit tests alone (no AWS, no emulator): seconds, for a quick loop.
test-fast: venv
	$(BIN)/pytest tests/unit -q

unit: test-fast

# The long property-based runs: 5,000 mutated messages per handler through the real handlers (figures at the end).
fuzz: venv
	$(BIN)/pytest tests/fuzz -m fuzz -n 2

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/dockhand/dockhand
	$(BIN)/mypy src --exclude 'src/dockhand_local/bench/'
	$(BIN)/cfn-lint template.yaml workload-account/template.yaml
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/sam validate --lint --region $(REGION)

# --skip-download: checkov otherwise fetches guideline links from its vendor (a traceback when offline).
check: lint fuzz
	$(BIN)/uv tool run --from checkov==3.3.30 checkov -f template.yaml --framework cloudformation --compact --quiet --skip-download

schema: venv
	$(BIN)/dockhand schema > schema/dockhand.schema.json

build: venv
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/sam build

bench: venv
	$(BIN)/python -m dockhand_local.bench $(ARGS)

deploy: build
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/sam deploy --guided

lock: venv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.13 -q -o constraints.txt

clean:
	rm -rf .aws-sam $(VENV)
