# `make test` and `make figures` each create .venv if missing, install the pinned stack, and run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JOBS   ?= 2
# one thread per notebook kernel: quick scale is sized for one core, and results stay reproducible
export RELML_THREADS ?= 1

.PHONY: install test lint unit figures report lab clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# the CPU wheel of torch first, so nothing else pulls a CUDA build
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check lib tests notebooks benchmarks

# unit tests, papermill over every ready notebook (tests/test_notebooks.py) and nbval over the
# committed notebooks, in one pytest run on both cores
test: lint
	$(BIN)/python -m pytest -n $(JOBS) --dist loadscope --nbval-lax --durations=30 tests notebooks

unit: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) tests

figures: $(STAMP)
	$(BIN)/relml run --all --jobs $(JOBS) --out build/figures --figures figures

report: figures
	$(BIN)/relml report build/figures --output build/figures/REPORT.md
	@echo "wrote build/figures/REPORT.md"

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf build .pytest_cache
