# Two entry points for a fresh Debian/Ubuntu machine (as root): `make demo` and `make test`.
# Both install what they need and are safe to run again.

PYTHON ?= python3
VENV ?= .venv
BROWSER ?= firefox-headless
APT_PACKAGES = chromium chromium-driver firefox-esr xvfb graphite-carbon python3-venv \
	mosquitto mosquitto-clients prometheus openssl
BIN = $(VENV)/bin
# pytest-xdist workers for `make test` (auto: one per CPU); JOBS=0 runs in one process.
JOBS ?= auto

.PHONY: demo test test-quick docs system-deps venv clean

demo: system-deps venv
	$(BIN)/xfinity-usage --demo -b $(BROWSER)

test: system-deps venv
	$(BIN)/python -m pytest -n $(JOBS) $(PYTEST_ARGS)

test-quick: venv
	$(BIN)/python -m pytest -n $(JOBS) -m "not e2e" $(PYTEST_ARGS)

docs: venv
	$(BIN)/sphinx-build -W -b html docs docs/_build/html

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,docs]'
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info docs/_build
