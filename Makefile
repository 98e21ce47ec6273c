# Two commands on a fresh machine: `make setup` (environment + the demo), `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup env demo test lint bench extension

setup: env demo

env: $(BIN)/neural-render

$(BIN)/neural-render: pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[ops,blender,train,dev]'
# nerfstudio's own data parser, for the multi-view interop test, without its heavy deps
# (torchvision, open3d, viser, gsplat, ...): the package plus what its dataparser imports.
	$(BIN)/pip install -q --no-deps nerfstudio==1.1.5 jaxtyping==0.3.11 wadler-lindig==0.1.8 \
		rich==15.0.0 markdown-it-py==4.3.0 mdurl==0.1.2
	touch $(BIN)/neural-render

demo: env
	$(BIN)/neural-render demo -o data/demo

test: env
	$(BIN)/python -m pytest

lint: env
	$(BIN)/ruff check .

bench: env
	$(BIN)/neural-render bench

extension: env
	$(BIN)/neural-render build-extension -o dist
