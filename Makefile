# The two commands a fresh clone needs: `make demo` and `make test`.
# Both create .venv from pyproject.toml when it is missing (or older than pyproject.toml).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint format data clean-outputs

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

## Generate the synthetic data (if missing), train and evaluate the detector, print the mAP table.
demo: $(STAMP)
	$(PY) experiments/run.py task=mmad

## The test suite (CPU, under 10 minutes on 2 cores).
test: $(STAMP)
	$(PY) -m pytest -q

## Generate only the synthetic dataset.
data: $(STAMP)
	$(PY) -m perception.synthetic --root data/synthetic_mma

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
