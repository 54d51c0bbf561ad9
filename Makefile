# Two entry points for a fresh machine: `make demo` and `make test` (`make test-all`: the whole suite, as CI).
# Each creates .venv if needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-all install install-test espeak chromium clean

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -e '.[test]'
	$(PY) -m pip install --no-deps 'syncnet-python==0.2.3'  # the SyncNet reference, for parity only
	touch $@

# The dubbing tests speak with espeak-ng (a Debian package).
espeak:
	@command -v espeak-ng >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q espeak-ng; \
	  else sudo apt-get update -q && sudo apt-get install -y -q espeak-ng; fi; }

# The web app's browser test drives Debian's chromium (Playwright with its executable; no browser download).
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	  else sudo apt-get update -q && sudo apt-get install -y -q chromium; fi; }

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(PY) -m diffdub_jax.demo --workdir=demo_out

# The fast default: every module at unit level, in about 2 minutes on 2 cores.
test: install-test espeak
	$(PY) -m pytest -q -m "not slow"

# Everything, the `slow` tests too (training, end to end, several processes, the demo): what CI runs.
test-all: install-test espeak chromium
	$(PY) -m pytest -q

clean:
	rm -rf demo_out .pytest_cache
