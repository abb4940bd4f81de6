# Two commands do everything on a fresh machine:
#   make demo   set up .venv, then train and compare autoencoders on the bundled digits data
#   make test   set up .venv, then lint and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch, installed before the package so that pip never
# resolves a bare `torch` requirement to a multi-GB CUDA build. Elsewhere, add
# e.g. TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu".
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
PYTEST_ARGS ?=

.PHONY: install demo test lint docs format clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# The main job on the bundled digits: every seed model plus a VAE and a conv net beside PCA,
# each trained until its validation loss stops improving (README: "Two commands" gives the time).
demo: install
	$(BIN)/autoencoders bakeoff --dataset digits --models simple deep denoising sparse vae conv \
		--batch-size 64 --latent-dim 10 --min-steps 500 --workers 2 --out runs/demo
	@echo "open runs/demo/report.html in a browser"

lint: install
	$(BIN)/ruff check src tests benchmarks docs/hooks
	$(BIN)/ruff format --check src tests benchmarks docs/hooks

# The documentation site (mkdocs.yml) into site/; --strict: a broken link, a missing
# page or a docstring mkdocstrings cannot read fails the build.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

test: lint docs
	$(BIN)/python -m pytest $(PYTEST_ARGS)

format: install
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) runs logs site .pytest_cache .ruff_cache
