# Two entry points (see README): `make demo` and `make test`. Both set everything up first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
INDEX ?= var/seed-index
PORT ?= 8501
# Keep the model and embedding cache inside the checkout unless the caller chose one.
export ARABIC_NEWS_SEARCH_CACHE ?= $(CURDIR)/var/cache
# Let Python cache bytecode (pytest's assertion rewriting of ~370 modules then happens once, not per run).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup demo index test test-fast lint browser clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# The CPU wheel of torch; an unpinned torch would pull a multi-GB CUDA build.
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e ".[test]"
	touch $@

setup: $(VENV)/.installed  ## virtual environment, CPU torch, the package, the default model and backend
	$(PY) -m index.prepare

index: setup  ## (re)build the seed index; only new passages are embedded
	$(PY) -m index.build --out $(INDEX) seeds/

demo: index  ## set up, index seeds/ and open the search app
	$(PY) -m search "When will Biden and Putin speak?" --index $(INDEX) -k 3
	$(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.headless true -- --index $(INDEX)

browser:  ## Debian's Chromium for the real-browser test (no browser download)
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || { echo "error: the browser test needs Debian's chromium (apt-get install chromium)"; exit 1; }

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: setup browser lint  ## set up and run the whole test suite
	$(VENV)/bin/pytest -q

test-fast: $(VENV)/.installed  ## the tests that need no model, server, browser or cluster (well under a minute)
	$(VENV)/bin/pytest -q -m "not model and not slow and not browser and not server and not cluster"

clean:
	rm -rf $(VENV) var test-artifacts
