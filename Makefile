# driftcar: `make demo` runs the self-contained demo, `make test` the whole test suite (both set up what they need).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test venv check audit pytest bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(BIN)/driftcar demo

check: venv
	$(BIN)/ruff check sidecar detectors storage alerts tests bench scripts
	$(BIN)/mypy

pytest: venv
	bash scripts/ensure-services.sh
	bash scripts/pytest.sh

# Known vulnerabilities with a fix available fail; an unreachable service is reported loudly (docs/security.md).
audit: venv
	$(BIN)/python scripts/audit.py

test: check audit pytest

bench: venv
	bash scripts/ensure-services.sh --bench
	$(BIN)/python -m bench.proxy
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.kserve_ingest
	$(BIN)/python -m bench.capture
	$(BIN)/python -m bench.detectors
	$(BIN)/python -m bench.fairness
	$(BIN)/python -m bench.window
	$(BIN)/python -m bench.report
	$(BIN)/python -m bench.soak --seconds 60

# Hostile bodies against every capture adapter for FUZZ_SECONDS (outside CI; CI runs ~60 examples per test).
fuzz: venv
	$(BIN)/python -m bench.fuzz --seconds $(or $(FUZZ_SECONDS),300) --proxy 60

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache driftcar.db* driftcar-spool
