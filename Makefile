# Two commands on a fresh machine: `make setup` (environment + the demo), `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup env demo test lint bench extension

setup: env demo

env: $(BIN)/neural-render

$(BIN)/neural-render: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[ops,blender,train,dev]'
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
