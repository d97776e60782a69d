# hrpose: the two commands a newcomer runs are `make demo` and `make test`; both install
# the environment first (tools/install/install.sh is idempotent and caches the mmcv build).
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_CONFIG ?= configs/hrpose/hrpose_hrnet-tiny_hrfpn_1k_synthetic.py
DEMO_WORK_DIR ?= work_dirs/demo
PYTEST_ARGS ?=

.PHONY: install demo test test-full test-quick lint clean

install:
	HRPOSE_VENV=$(VENV) bash tools/install/install.sh

# Main job: generate the synthetic person set, train the tiny hrpose config on the CPU, and
# evaluate keypoint AP and box AP on the synthetic validation images.
demo: install
	$(PY) tools/misc/make_synthetic_coco.py data/synthetic
	$(PY) tools/train.py $(DEMO_CONFIG) --work-dir $(DEMO_WORK_DIR)
	$(PY) tools/test.py $(DEMO_CONFIG) $(DEMO_WORK_DIR) --work-dir $(DEMO_WORK_DIR)

# The suite (CPU only) but the extra overfit runs; `make test-full` runs those too, and
# `make test-quick` leaves out every end-to-end training test.
test: install
	$(PY) -m pytest tests -v -rA -m "not full" --durations=15 $(PYTEST_ARGS)

test-full: install
	$(PY) -m pytest tests -v -rA --durations=15 $(PYTEST_ARGS)

test-quick: install
	$(PY) -m pytest tests -m "not slow and not full" -q $(PYTEST_ARGS)

# Style, in .venv-lint (flake8, isort and yapf only): runs before any install, in CI first.
LINT_VENV ?= .venv-lint
LINT_PATHS := hrpose tools tests configs bench demo setup.py
$(LINT_VENV)/.installed: requirements/lint.txt
	python3 -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/pip install -q -r requirements/lint.txt
	touch $@

lint: $(LINT_VENV)/.installed
	$(LINT_VENV)/bin/flake8 $(LINT_PATHS)
	$(LINT_VENV)/bin/isort --check-only --diff $(LINT_PATHS)
	$(LINT_VENV)/bin/yapf --diff --recursive $(LINT_PATHS)

clean:
	rm -rf work_dirs build *.egg-info
