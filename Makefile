# seqlab: `make train` and `make test` set everything up from nothing.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
AEON ?= aeon==1.6.0
# a second archive data package: sktime's wheel adds PLAID (537 series of 100-1,344 steps)
SKTIME ?= sktime==1.2.0
# pytest-xdist workers for `make test`, one torch thread each (2 cores: ~1.4x faster)
TEST_WORKERS ?= 2
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install train predict test test-all lint format bench gpu-check dalle clean-logs

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# torch first, pinned, so the project's range never resolves to another (multi-GB) build.
$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev,sweeps,export]"
	# the UCR/UEA archive's data files ship in aeon's wheel; --no-deps: only its data is read
	# (its numba stack would re-pin numpy/pandas), see seqlab/data/series/ucr.py
	$(PY) -m pip install --quiet --no-deps "$(AEON)" "$(SKTIME)"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install seqlab (torch first)

train: $(STAMP)  ## train the default experiment (model=lstm data=stocks)
	$(PY) train.py $(ARGS)

# e.g. make predict ARGS="ckpt_path=logs/.../checkpoints/last.ckpt data.path=new.ts"
predict: $(STAMP)  ## labels/forecasts for new data from a checkpoint (README "Use what you trained")
	$(PY) predict.py $(ARGS)

test: $(STAMP)  ## run the default test suite (offline, < 5 min on 2 cores)
	OMP_NUM_THREADS=1 $(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(ARGS)

test-all: $(STAMP)  ## the default suite plus slow tests
	OMP_NUM_THREADS=1 $(PY) -m pytest -m "slow or not slow" $(ARGS)

DALLE_TIME := $(shell date +%Y-%m-%d_%H-%M-%S)
DALLE_RUN ?= logs/dalle/$(DALLE_TIME)
dalle: $(STAMP)  ## DALL-E in miniature: stage 1 (VQ-VAE), stage 2 on its checkpoint, a CLIP to re-rank
	$(PY) train.py experiment=vqvae_mnist hydra.run.dir=$(DALLE_RUN)/vqvae $(ARGS)
	$(PY) train.py experiment=dalle_mnist model.tokenizer_ckpt=$(DALLE_RUN)/vqvae/checkpoints/last.ckpt hydra.run.dir=$(DALLE_RUN)/dalle $(ARGS)
	$(PY) train.py experiment=clip_mnist hydra.run.dir=$(DALLE_RUN)/clip $(ARGS)
	@echo "draw, re-ranked by the CLIP: $(PY) generate.py ckpt_path=$(DALLE_RUN)/dalle/checkpoints/last.ckpt rerank_ckpt=$(DALLE_RUN)/clip/checkpoints/last.ckpt candidates=8 prompt=\"a thick handwritten seven\""

lint: $(STAMP)  ## ruff lint + format check and the pre-commit hooks
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" pre-commit run --all-files

format: $(STAMP)  ## apply ruff format and autofixes
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

bench: $(STAMP)  ## run the benchmarks, results under benchmarks/results/
	$(PY) -m benchmarks.run $(ARGS)

# on the GPU machine itself: bash benchmarks/gpu_check.sh (benchmarks/README.md, "GPU check")
gpu-check: $(STAMP)  ## prepare the GPU check: device wheels in .whl/, then its CPU dry run
	bash benchmarks/gpu_wheels.sh
	OMP_NUM_THREADS=1 $(PY) -m benchmarks.gpu_check --dry-run $(ARGS)

clean-logs:  ## delete run outputs under logs/
	find logs -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
