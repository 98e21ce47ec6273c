# Two commands on a fresh machine: `make setup` (environment + the demo), `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup env blender-env demo test lint bench extension

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
# OpenCV's DIS optical flow, the renderer-unaware baseline of `eval inbetween`: its wheels declare
# numpy>=2 but run on the numpy 1.26 that bpy 5.0.1 needs (the abi3 build supports both).
	$(BIN)/pip install -q --no-deps opencv-python-headless==4.14.0.94
	touch $(BIN)/neural-render

demo: env
	$(BIN)/neural-render demo -o data/demo

test: env blender-env
	$(BIN)/python -m pytest

# Pythons with only the bpy wheel, as inside a stock Blender: the extension test installs the
# add-on there, so an import that works only in this checkout fails (tests/integration/test_extension.py).
# Two Blenders: 5.0 (Python 3.11, the last bpy for 3.11) and 5.2 (Python 3.13, as every Blender from 5.1).
PY313 ?= env PYENV_VERSION=3.13.0 python3.13
blender-env: .venv-blender/.bpy-5.0.1 .venv-blender-5.2/.bpy-5.2.3

.venv-blender/.bpy-5.0.1:
	test -x .venv-blender/bin/python || $(PY) -m venv .venv-blender
	.venv-blender/bin/pip install -q bpy==5.0.1
	touch $@

.venv-blender-5.2/.bpy-5.2.3:
	test -x .venv-blender-5.2/bin/python || $(PY313) -m venv .venv-blender-5.2
	.venv-blender-5.2/bin/pip install -q bpy==5.2.3
	touch $@

# ruff, then the import rules (which package may import which; tests/unit/test_import_rules.py).
lint: env
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit/test_import_rules.py

bench: env
	$(BIN)/neural-render bench

extension: env
	$(BIN)/neural-render build-extension -o dist
