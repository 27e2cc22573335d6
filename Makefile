# The two commands: `make run` serves, `make test` runs the suite. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MOMOKO := momoko==2.2.5.1

.PHONY: run test bench clean

run: $(VENV)/.runtime
	$(PY) app.py serve

test: $(VENV)/.dev
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.runtime
	$(PY) bench/run.py $(BENCH_ARGS)

$(VENV)/.runtime: requirements.txt Makefile
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed" if sys.version_info < (3, 11) else 0)'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --requirement requirements.txt
# momoko's last release declares tornado<6, yet works on Tornado 6.6 (tests prove it on every run);
# installing it without its declared dependencies keeps pip from downgrading Tornado.
	$(PY) -m pip install --quiet --no-deps $(MOMOKO)
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet --requirement requirements-dev.txt
	touch $@

clean:
	rm -rf $(VENV)
