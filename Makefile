# The two commands a new user needs (see README):
#   make demo   set up .venv (first time), fit the radon varying-slope model, write out/demo/
#   make test   set up .venv (first time), run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo test setup clean test-browser

$(VENV)/.installed: pyproject.toml requirements-lock.txt scripts/setup_env.sh
	scripts/setup_env.sh $(VENV)

setup: $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) -m hiermod fit models/radon_vis.toml --out out/demo --json out/demo/summary.json

test: $(VENV)/.installed test-browser
	$(PY) -m pytest $(PYTEST_ARGS)

# headless Chromium for tests/test_html_report.py; if it cannot be installed, make goes on
# and that test fails (it never skips)
test-browser:
	-scripts/install_test_browser.sh

clean:
	rm -rf $(VENV) out
