# gradviz: two commands for a newcomer, `make lab` and `make test`.
# Both need nothing but python3 and make: the first run creates .venv and
# installs the project into it; later runs reinstall only when pyproject.toml
# has changed (the stamp file .venv/.installed records the last install).

PYTHON        ?= python3
VENV          ?= .venv
PY            := $(VENV)/bin/python
STAMP         := $(VENV)/.installed
PYTEST_ARGS   ?=
NBVAL_TIMEOUT ?= 600
LAB_ARGS      ?=
SANITIZE      := notebooks/nbval_sanitize.cfg

.PHONY: lab test test-browser notebooks setup benchmark figures clean distclean help

## lab: open JupyterLab on notebooks/ (sets up .venv first if needed; extra options: LAB_ARGS=...)
# Jupyter refuses to start as root unless told; containers and fresh cloud machines often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: $(STAMP)
	@mkdir -p notebooks
	$(VENV)/bin/jupyter lab $(ROOT_FLAG) $(LAB_ARGS) notebooks/

## test: run the test suite, then execute and check every notebook with nbval
# Tests run with HOME and every Jupyter/IPython/matplotlib config directory
# inside a fresh temporary folder, so a developer's own settings (matplotlibrc,
# IPython profile, Jupyter config) cannot change a result. BLAS runs on one
# thread: sums are then added in one fixed order, so the numbers the notebooks
# print are the same on every machine, and a busy 2-core runner is not slowed
# down by two BLAS threads fighting the test process.
ISOLATED_ENV = set -e; \
	home=$$(mktemp -d "$${TMPDIR:-/tmp}/gradviz-test-home.XXXXXX"); \
	trap 'rm -rf "$$home"' EXIT; \
	export HOME="$$home" GRADVIZ_TEST_HOME="$$home" \
	       JUPYTER_CONFIG_DIR="$$home/.jupyter" JUPYTER_DATA_DIR="$$home/.local/share/jupyter" \
	       JUPYTER_PLATFORM_DIRS=1 IPYTHONDIR="$$home/.ipython" \
	       MPLCONFIGDIR="$$home/.config/matplotlib" MPLBACKEND=Agg \
	       XDG_CONFIG_HOME="$$home/.config" XDG_CACHE_HOME="$$home/.cache" PYTHONHASHSEED=0 \
	       OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

test: $(STAMP)
	@$(ISOLATED_ENV); \
	echo "+ pytest $(PYTEST_ARGS)  (HOME=$$home)"; \
	$(PY) -m pytest $(PYTEST_ARGS); \
	if ls notebooks/*.ipynb >/dev/null 2>&1; then \
	  sanitize=""; \
	  if [ -f $(SANITIZE) ]; then sanitize="--nbval-sanitize-with $(SANITIZE)"; fi; \
	  echo "+ pytest --nbval notebooks/ $$sanitize"; \
	  $(PY) -m pytest --nbval --nbval-current-env --nbval-cell-timeout=$(NBVAL_TIMEOUT) \
	    $$sanitize notebooks/; \
	else \
	  echo "(no notebooks/*.ipynb yet: nbval skipped)"; \
	fi

## test-browser: only the browser tests (every notebook in JupyterLab in headless Chromium; see README)
test-browser: $(STAMP)
	@$(ISOLATED_ENV); \
	$(PY) -m pytest -m browser tests/browser $(PYTEST_ARGS)

## notebooks: re-execute every notebook (or NB=notebooks/NN_x.ipynb) in place, top to bottom, as the tests do
NB ?= notebooks/*.ipynb
notebooks: $(STAMP)
	@$(ISOLATED_ENV); \
	for nb in $(NB); do \
	  echo "+ execute $$nb"; \
	  $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=$(NBVAL_TIMEOUT) "$$nb"; \
	done

## setup: create .venv and install the project with its test extra
setup: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e ".[test]"
	@touch $@

## benchmark: run every script in benchmarks/
benchmark: $(STAMP)
	@set -e; \
	if ! ls benchmarks/*.py >/dev/null 2>&1; then echo "no benchmarks/*.py yet"; exit 1; fi; \
	for script in benchmarks/*.py; do echo "+ $$script"; $(PY) "$$script"; done

## figures: regenerate every figure into figures/
figures: $(STAMP)
	MPLBACKEND=Agg $(PY) -m gradviz figures --out figures

## clean: remove caches (keeps .venv); distclean: also remove .venv
clean:
	rm -rf .pytest_cache .hypothesis build *.egg-info
	find . -name __pycache__ -type d -not -path "./$(VENV)/*" -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)

help:
	@grep -E '^## ' $(MAKEFILE_LIST) | sed 's/^## /  make /'
