# The two commands a fresh clone needs: `make demo` and `make test`.
# Both create .venv from pyproject.toml when it is missing (or older than pyproject.toml).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-assets lint format data clean-outputs reproduce

# torch 2.14.1 from PyPI is the CUDA build: with its nvidia-* libraries .venv takes about 7.1 GB.
# Warn before installing when the disk has less than 8 GB free, so that pip's "No space left on
# device" half-way through has an explanation (pip runs anyway: a cache may need less).
NEED_GB := 8
$(STAMP): pyproject.toml
	@free_gb=$$(df -Pk . | awk 'NR==2 {print int($$4 / 1048576)}'); \
	if [ -n "$$free_gb" ] && [ "$$free_gb" -lt $(NEED_GB) ]; then \
		echo "warning: $$free_gb GB free on $$(df -P . | awk 'NR==2 {print $$6}'); installing $(VENV) needs about $(NEED_GB) GB (torch's CUDA build)" >&2; \
	fi
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

## Generate the synthetic data (if missing), train and evaluate the detector, print the mAP table.
demo: $(STAMP)
	$(PY) experiments/run.py task=mmad

## The test suite (CPU, under 10 minutes on 2 cores).
test: $(STAMP) test-assets
	$(PY) -m pytest -q

MEGAMIND := /usr/share/doc/opencv-doc/examples/data/Megamind.avi
CHROMIUM := /usr/bin/chromium
## Test assets from Debian, installed where apt-get runs as root; elsewhere the tests that need
## them skip with a message: opencv-doc ships Megamind.avi (a real video for MediaPipe and
## predict), chromium is the headless browser the HTML report's test drives through Playwright.
test-assets:
	@if [ ! -f $(MEGAMIND) ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing opencv-doc (Megamind.avi for the MediaPipe and predict tests)"; \
		apt-get install -y --no-install-recommends opencv-doc >/dev/null 2>&1 \
		|| { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends opencv-doc >/dev/null 2>&1; } \
		|| echo "could not install opencv-doc: the Megamind tests will skip"; \
	fi
	@if [ ! -x $(CHROMIUM) ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing chromium (headless browser for the report.html test)"; \
		apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
		|| { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; } \
		|| echo "could not install chromium: the browser test will skip"; \
	fi

## Rerun the README's headline runs on fresh data (3 seeds each, about an hour on 2 cores) and
## print every figure beside the README's; ARGS="--sweeps" adds the ablation sweeps, ARGS="--seeds 0" one seed.
reproduce: $(STAMP)
	$(PY) -m benchmarks.reproduce $(ARGS)

## Generate only the synthetic dataset.
data: $(STAMP)
	$(PY) -m perception.synthetic --root data/synthetic_mma

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
