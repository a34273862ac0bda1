# Two entry points for a fresh Debian/Ubuntu machine (as root): `make demo` and `make test`.
# Both install what they need and are safe to run again.

PYTHON ?= python3
VENV ?= .venv
BROWSER ?= firefox-headless
APT_PACKAGES = chromium chromium-driver firefox-esr xvfb graphite-carbon python3-venv \
	mosquitto mosquitto-clients prometheus openssl
BIN = $(VENV)/bin
# pytest-xdist workers for `make test`: one more than the CPUs, since the tests wait on browsers and
# the simulated site for part of their time (2 CPUs here: 97 % busy with 3 workers, 90 % with 2, and
# a clean clone's `make test` took 4 min 01 s against 4 min 19 s). JOBS=0 runs in one process.
JOBS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))

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

# uv (from PyPI, kept in $(VENV)/uv) builds the venv in about 20 s, where venv + pip took about 40;
# from what uv already holds in its cache (~/.cache/uv), without asking the index, in about 3 s.
# The checkout is installed editable in setuptools' "compat" mode: a plain path in a .pth file.
# The default mode imports a finder (pathlib, importlib.util...) at every Python start, 16 ms that
# an installed tool does not pay and that every run of the tests and benchmarks would.
UV = $(VENV)/uv/bin/uv
EDITABLE = -C editable_mode=compat -e '.[test,docs]'
$(VENV)/.installed: setup.py
	rm -rf $(VENV)
	$(PYTHON) -m pip install -q --disable-pip-version-check --target $(VENV)/uv 'uv>=0.13,<1'
	$(UV) venv -q --seed --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip install -q --offline --python $(BIN)/python $(EDITABLE) 2>/dev/null \
	  || $(UV) pip install -q --python $(BIN)/python $(EDITABLE)
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info docs/_build
