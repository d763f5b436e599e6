# Two commands from a fresh clone (README): `make demo` and `make test`. The first one run creates .venv
# and installs sfsync with its test tools (one environment serves both); later runs reinstall only when
# pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Bytecode is cached (in __pycache__ folders, ignored by git) even where the environment sets
# PYTHONDONTWRITEBYTECODE: without a cache every process — each xdist worker, each `sfsync` the tests
# start, and later each `.venv/bin/sfsync` you run — compiles sfsync and its dependencies from source
# again (~1.3 s of CPU per process here). Only what is imported gets compiled, not all of .venv.
export PYTHONDONTWRITEBYTECODE :=

.PHONY: demo test check ci clean

demo: $(VENV)/.installed
	$(VENV)/bin/sfsync demo

# PYTEST_ARGS: extra pytest arguments, e.g. `make test PYTEST_ARGS="tests/sync -x"`
# Two workers: the suite is CPU-bound and this machine kind has two cores. --dist loadfile keeps each test
# file on one worker, so a module's shared set-up (the README's fresh install, the demo) runs once.
PYTEST_WORKERS ?= 2
test: $(VENV)/.installed
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The static checks CI runs beside the tests.
check: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict sfsync
	$(VENV)/bin/lint-imports

ci: check test

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	# --no-compile: Python compiles a module when it is first imported; compiling every installed file up
	# front (botocore, mypy, ...) cost 13 s more CPU per fresh install here (36 s instead of 50 s user time)
	$(VENV)/bin/pip install --quiet --no-compile -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) sfsync-demo build dist *.egg-info
