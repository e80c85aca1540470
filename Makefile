# Two commands for a new user: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
ARGS   ?=

.PHONY: demo test test-fast lint bench clean install install-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[fast,local,dashboard]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

# checkov (template security scan, tests/aws/test_template.py) has pins that clash with ours:
# it lives in a venv of its own inside .venv (about 20 s to install, 3 s to run).
$(VENV)/checkov/bin/checkov: | $(BIN)/python
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install -q 'checkov>=3.2,<4'

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/cryptosignals demo $(ARGS)

test: install-dev $(VENV)/checkov/bin/checkov
	$(BIN)/python -m pytest -n 2 $(ARGS)

test-fast: install-dev
	$(BIN)/python -m pytest -m "not slow" $(ARGS)

lint: install-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

bench: install-dev
	$(BIN)/python benchmarks/indicators.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache .mypy_cache
