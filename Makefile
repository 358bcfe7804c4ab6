# Two commands do everything on a fresh machine (Python 3.11, root):
#   make run    set up, then classify the embedded example dataset with the default weights
#   make test   set up, then run ruff, the import rules and the whole test suite (what CI runs)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-done
EXAMPLE_DIR ?= build/example

.PHONY: setup run test lint bench mutate clean

$(STAMP): setup.cfg pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/phy-c4 demo --out $(EXAMPLE_DIR)

lint: $(STAMP)
	$(VENV)/bin/ruff check phy_c4 tests benchmarks scripts
	$(PY) scripts/check_imports.py

test: $(STAMP)
	$(VENV)/bin/ruff check phy_c4 tests benchmarks scripts
	$(PY) scripts/check_imports.py
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

# npyx 4.3.1 gets its own environment, so the project's stays as CI builds it
BENCH_VENV := .bench/venv-npyx

$(BENCH_VENV)/.done: setup.cfg
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q torch==2.13.0
	$(BENCH_VENV)/bin/pip install -q -e . npyx==4.3.1 six dill requests 'matplotlib<3.9'
	touch $@

bench: $(STAMP) $(BENCH_VENV)/.done
	$(BENCH_VENV)/bin/python benchmarks/bench_features.py
	$(PY) benchmarks/bench_pairing.py
	$(PY) benchmarks/bench_classify.py --npyx-sample 0
	$(PY) benchmarks/npyx_end_to_end.py --npyx-python $(BENCH_VENV)/bin/python

# mutation testing of the modules users rely on (docs/mutation.md); not in CI: it takes hours.
# One module: make mutate MUTATE=region (its tests: scripts/mutation_report.py MODULES)
MUTATE ?=
mutate: $(STAMP)
	$(VENV)/bin/pip install -q -e ".[mutate]"
	nice $(PY) scripts/mutation_report.py run $(MUTATE)

clean:
	rm -rf $(VENV) build .pytest_cache
