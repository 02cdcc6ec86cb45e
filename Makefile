# gradviz: two commands for a newcomer, `make lab` and `make test`.
# Both need nothing but python3 and make: the first run creates .venv and
# installs the project into it, with the exact versions of constraints.txt
# (what a green CI last used); later runs reinstall only when pyproject.toml or
# constraints.txt has changed (the stamp file .venv/.installed records the last install).

PYTHON        ?= python3
VENV          ?= .venv
PY            := $(VENV)/bin/python
STAMP         := $(VENV)/.installed
PYTEST_ARGS   ?=
NBVAL_TIMEOUT ?= 600
LAB_ARGS      ?=
SANITIZE      := notebooks/nbval_sanitize.cfg
CONSTRAINTS   := constraints.txt
# pip options of the install; `make test-latest` drops the constraints
PIP_INSTALL_ARGS ?= -c $(CONSTRAINTS)
# extras the install includes (test: the test suite; site: `make site`; app: `make app`, and the browser
# tests of both); `make test-latest` takes every extra, so `make constraints` pins them all
EXTRAS        ?= test,site,app
# options of `make benchmark-browser`, e.g. BENCH_ARGS="--presses 20 --only Selu"
BENCH_ARGS    ?=
# OpenBLAS kernels that `make test-kernels` checks the stored outputs under (besides the machine's own)
KERNELS       ?= Sandybridge Prescott
# ... with numpy's own SIMD loops (exp, tanh, expm1, ...) off too, as on a CPU without AVX2: numpy picks them at run
# time, so an AVX-512 machine and an AVX2 one round np.tanh differently (names of numpy 2.x; unknown names are ignored)
NUMPY_OFF     ?= X86_V3 X86_V4 AVX512_ICL AVX512_SPR
LATEST_VENV   := .venv-latest
# `make site`: where the static website goes
SITE_OUT      ?= build/site
# `make app`: the port and address the playground app listens on (see README, "A classroom app")
PORT          ?= 8866
APP_IP        ?= 127.0.0.1
APP_NOTEBOOK  := docs/app/playground.ipynb
# further options for Voila, e.g. APP_ARGS="--MappingKernelManager.cull_idle_timeout=600"
APP_ARGS      ?=

.PHONY: lab test test-kernels test-latest constraints test-browser notebooks site app setup benchmark benchmark-browser figures mutation clean distclean help

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

NBVAL = $(PY) -m pytest --nbval --nbval-current-env --nbval-cell-timeout=$(NBVAL_TIMEOUT) \
	  --nbval-sanitize-with $(SANITIZE) notebooks/

test: $(STAMP)
	@$(ISOLATED_ENV); \
	echo "+ pytest $(PYTEST_ARGS)  (HOME=$$home)"; \
	$(PY) -m pytest $(PYTEST_ARGS); \
	echo "+ pytest --nbval notebooks/"; \
	$(NBVAL)

## test-kernels: check every stored notebook output under other OpenBLAS kernels (KERNELS=...), with numpy's SIMD loops off, and on 2 BLAS threads
# A stored output must not depend on the BLAS kernel, numpy's SIMD loops or the thread count (README, "Reproducibility").
# threadpoolctl reports the kernel in use, so a kernel that OpenBLAS did not switch to fails loudly; numpy reports
# the SIMD extensions its loops dispatch to, so a NUMPY_OFF that left one on fails loudly too.
BLAS_KERNEL = $(PY) -c "import numpy, threadpoolctl; \
	print(' '.join(str(i.get('architecture')) for i in threadpoolctl.threadpool_info() if i['internal_api'] == 'openblas'))"
NUMPY_SIMD = $(PY) -c "import numpy._core._multiarray_umath as m; \
	print(' '.join(f for f in m.__cpu_dispatch__ if m.__cpu_features__.get(f)))"

test-kernels: $(STAMP)
	@$(ISOLATED_ENV); \
	own=$$(env -u OPENBLAS_CORETYPE $(BLAS_KERNEL)); \
	echo "this machine's own OpenBLAS kernel: $$own; numpy's SIMD loops: $$(env -u NPY_DISABLE_CPU_FEATURES $(NUMPY_SIMD))"; \
	simd=$$(NPY_DISABLE_CPU_FEATURES="$(NUMPY_OFF)" $(NUMPY_SIMD)); \
	if [ -n "$$simd" ]; then \
	  echo "NPY_DISABLE_CPU_FEATURES='$(NUMPY_OFF)': numpy still dispatches to '$$simd'" >&2; exit 1; \
	fi; \
	for kernel in $(KERNELS); do \
	  found=$$(OPENBLAS_CORETYPE=$$kernel $(BLAS_KERNEL)); \
	  if [ -z "$$found" ] || [ "$$found" = "$$own" ]; then \
	    echo "OPENBLAS_CORETYPE=$$kernel: OpenBLAS still runs '$$found', not another kernel" >&2; exit 1; \
	  fi; \
	  echo "+ pytest --nbval notebooks/  (OPENBLAS_CORETYPE=$$kernel: kernel $$found, 1 thread; numpy's SIMD loops off)"; \
	  OPENBLAS_CORETYPE=$$kernel NPY_DISABLE_CPU_FEATURES="$(NUMPY_OFF)" $(NBVAL); \
	done; \
	echo "+ pytest --nbval notebooks/  (kernel $$own, 2 BLAS threads)"; \
	env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 $(NBVAL)

## test-latest: the whole suite on the newest release of every dependency (in .venv-latest): an upgrade is a deliberate step
test-latest:
	@test -x $(LATEST_VENV)/bin/python || $(PYTHON) -m venv $(LATEST_VENV)
	@rm -f $(LATEST_VENV)/.installed
	$(MAKE) test VENV=$(LATEST_VENV) PIP_INSTALL_ARGS="--upgrade --upgrade-strategy eager" EXTRAS=test,site,app,mutation

## constraints: after a green `make test-latest`, pin the versions it used into constraints.txt (commit it once CI is green)
CONSTRAINTS_FROM ?= $(LATEST_VENV)
constraints:
	@test -x $(CONSTRAINTS_FROM)/bin/python || { echo "no $(CONSTRAINTS_FROM): run make test-latest first"; exit 1; }
	@pyver=$$($(CONSTRAINTS_FROM)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	{ echo "# Exact versions of every package a green run of the test suite used (make constraints)."; \
	  echo "# make lab / make test install with them (pip -c). They hold for Python $$pyver only:"; \
	  echo "# on another Python, pip ignores these lines and installs the newest releases."; \
	  echo "# Upgrade deliberately: make test-latest, then make constraints, then commit."; \
	  $(CONSTRAINTS_FROM)/bin/python -m pip freeze --exclude-editable --all \
	    | grep -v -E '^(pip|setuptools|wheel)==' \
	    | sed "s/\$$/ ; python_version == \"$$pyver\"/"; \
	} > $(CONSTRAINTS).tmp && mv $(CONSTRAINTS).tmp $(CONSTRAINTS)
	@echo "wrote $(CONSTRAINTS) ($$(grep -c '==' $(CONSTRAINTS)) packages)"

## test-browser: only the browser tests (every notebook in JupyterLab in headless Chromium; see README)
test-browser: $(STAMP)
	@$(ISOLATED_ENV); \
	$(PY) -m pytest -m browser tests/browser $(PYTEST_ARGS)

## site: the chapters as a static website in build/site (SITE_OUT=...), from the outputs the notebooks store; offline
# nbconvert's HTML exporter with a table of contents (README, "The chapters as a website"): docs/build_site.py.
site: $(STAMP)
	@$(ISOLATED_ENV); \
	$(PY) docs/build_site.py --out $(SITE_OUT)

## app: chapter 07's playground as a web app (Voila): http://127.0.0.1:8866 (PORT=..., APP_IP=0.0.0.0 for a class: README)
# Controls and figures only (no code), one kernel per browser tab, a kernel idle for an hour stopped.
app: $(STAMP)
	env -u MPLBACKEND $(VENV)/bin/voila --no-browser --port=$(PORT) --Voila.ip=$(APP_IP) --Voila.port_retries=0 \
	  --strip_sources=True --show_tracebacks=False \
	  --MappingKernelManager.cull_idle_timeout=3600 --MappingKernelManager.cull_interval=300 $(APP_ARGS) $(APP_NOTEBOOK)

## notebooks: re-execute every notebook (or NB=notebooks/NN_x.ipynb) in place, top to bottom, as the tests do
# Without the widgets' state: a static renderer (nbconvert, nbviewer, a code-hosting page) would then try
# to draw each widget from it, with JavaScript fetched from the network, instead of showing the image
# each explorer stores beside its widget (tests/test_project_files.py checks that no notebook keeps it).
# store_widget_state=False only stops nbconvert from writing new state: a state the notebook already holds
# (from a run without it, or a save in JupyterLab) is dropped first.
NB ?= notebooks/*.ipynb
DROP_WIDGET_STATE = $(PY) -c "import sys, nbformat; nb = nbformat.read(sys.argv[1], 4); \
	nb.metadata.pop('widgets', None); nbformat.write(nb, sys.argv[1])"
notebooks: $(STAMP)
	@$(ISOLATED_ENV); \
	for nb in $(NB); do \
	  echo "+ execute $$nb"; \
	  $(DROP_WIDGET_STATE) "$$nb"; \
	  $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=$(NBVAL_TIMEOUT) --ExecutePreprocessor.store_widget_state=False "$$nb"; \
	done

## setup: create .venv and install the project with its test extra
setup: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(PY)
	$(PY) -m pip install $(PIP_INSTALL_ARGS) -e ".[$(EXTRAS)]"
	@touch $@

## benchmark: run every script in benchmarks/ but the browser one (see benchmarks/README.md)
benchmark: $(STAMP)
	@set -e; \
	if ! ls benchmarks/*.py >/dev/null 2>&1; then echo "no benchmarks/*.py yet"; exit 1; fi; \
	for script in benchmarks/*.py; do \
	  case $$script in *bench_browser.py) continue;; esac; \
	  echo "+ $$script"; $(PY) "$$script"; \
	done

## benchmark-browser: arrow keys on every explorer in JupyterLab in headless Chromium, key to changed pixels (BENCH_ARGS=...)
benchmark-browser: $(STAMP)
	@$(ISOLATED_ENV); \
	$(PY) benchmarks/bench_browser.py $(BENCH_ARGS)

## figures: regenerate every figure into figures/
figures: $(STAMP)
	MPLBACKEND=Agg $(PY) -m gradviz figures --out figures

## mutation: mutation testing of the engine with mutmut (takes minutes; not part of `make test`, see CONTRIBUTING)
# Mutates the modules named in MUTATE and runs, against each mutant, the unit tests of those
# modules (tests/test_<module>.py) that execute the mutated function; then lists every mutant
# that no test killed. It works in a scratch copy ($(MUTATION_DIR)), never on your files.
#   make mutation MUTATE="activations init layers" MUTATION_JOBS=1 MUTATION_TIME=900
# CI=true selects the fixed hypothesis profile of tests/conftest.py (derandomized, no example
# database), so a mutant is killed or not whatever the run.
MUTATE        ?= activations init layers network losses optim stats theory
MUTATION_DIR  ?= build/mutation
MUTATION_JOBS ?= 2
MUTATION_TIME ?= 3600
MUT_STAMP     := $(VENV)/.installed-mutation

$(MUT_STAMP): pyproject.toml $(CONSTRAINTS) | $(PY)
	$(PY) -m pip install $(PIP_INSTALL_ARGS) -e ".[test,mutation]"
	@touch $@

mutation: $(STAMP) $(MUT_STAMP)
	@$(ISOLATED_ENV); export CI=true; \
	rm -rf $(MUTATION_DIR); mkdir -p $(MUTATION_DIR); \
	cp -R gradviz tests pyproject.toml $(MUTATION_DIR)/; \
	{ echo "[mutmut]"; echo "source_paths = gradviz"; \
	  echo "only_mutate ="; for m in $(MUTATE); do \
	    if [ -d gradviz/$$m ]; then for f in gradviz/$$m/*.py; do echo "    $$f"; done; else echo "    gradviz/$$m.py"; fi; \
	  done; \
	  echo "pytest_add_cli_args_test_selection ="; \
	  for m in $(MUTATE); do \
	    if [ -f tests/test_$$m.py ]; then echo "    tests/test_$$m.py"; else echo "no tests/test_$$m.py: $$m's mutants meet no test" >&2; fi; \
	  done; \
	  echo "use_git_change_detection = false"; \
	} > $(MUTATION_DIR)/setup.cfg; \
	mutmut=$(abspath $(VENV))/bin/mutmut; cd $(MUTATION_DIR); \
	echo "+ mutmut run on: $(MUTATE)  (in $(MUTATION_DIR), $(MUTATION_JOBS) jobs, at most $(MUTATION_TIME) s)"; \
	start=$$(date +%s); \
	timeout -s INT $(MUTATION_TIME) $$mutmut run --max-children $(MUTATION_JOBS) || echo "(mutmut stopped: status $$?)"; \
	echo "+ mutmut results  ($$(( $$(date +%s) - start )) s; survivors and mutants no test reached)"; \
	$$mutmut results; \
	echo "(\`cd $(MUTATION_DIR) && $$mutmut show NAME\` prints a mutant's diff)"

## clean: remove caches (keeps .venv); distclean: also remove .venv
clean:
	rm -rf .pytest_cache .hypothesis build *.egg-info
	find . -name __pycache__ -type d -not -path "./$(VENV)/*" -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(LATEST_VENV)

help:
	@grep -E '^## ' $(MAKEFILE_LIST) | sed 's/^## /  make /'
