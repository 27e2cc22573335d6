# The two commands: `make run` serves, `make test` runs the suite. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MOMOKO := momoko==2.2.5.1
NODE_MODULES := node_modules/.installed

.PHONY: run test bench clean

run: $(VENV)/.runtime $(NODE_MODULES)
	$(PY) app.py serve

# Lint and types first (seconds), then the dashboard's state machine under Node's own test runner,
# then everything else under pytest.
test: $(VENV)/.dev $(NODE_MODULES)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	node --test tests/frontend/
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

# Vue and uPlot, exactly as package-lock.json pins them; the browser loads them from here (static/vendor/).
$(NODE_MODULES): package.json package-lock.json
	@command -v npm >/dev/null || { echo "Node.js and npm are needed to install the dashboard's assets (Debian: apt install nodejs npm)"; exit 1; }
	npm ci --no-audit --no-fund
	touch $@

clean:
	rm -rf $(VENV) node_modules
