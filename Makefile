# The README's two commands: `make demo` and `make test`. Both work on a fresh clone.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip

.PHONY: demo test lint venv install install-test deb-deps bench-venv clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

install: $(VENV)/bin/activate
	$(PIP) install --quiet -e .

install-test: $(VENV)/bin/activate
	$(PIP) install --quiet -e '.[test]'

demo: install
	$(VENV)/bin/riskstream demo

# Debian packages the tests need: prometheus (prometheus + promtool binaries), chromium and chromium-driver
# (the console's browser test). Harmless when installed.
deb-deps:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || \
	  (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver)

# Before any test runs: the layer contracts, ruff and mypy (all configured in pyproject.toml).
lint: install-test
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The quixstreams baseline of benchmarks/bench_pipeline.py, in its own venv (pyproject's `bench` extra explains why).
bench-venv:
	test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet "$$(sed -n 's/^bench = \["\(.*\)"\]/\1/p' pyproject.toml)"

test: lint deb-deps
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
