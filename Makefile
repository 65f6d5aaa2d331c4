# The commands a user types. Every target installs the project into .venv first, so any of them works
# first on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

# make export BACKBONE=efficientnet_lite0 SIZE=224 WEIGHTS=path/to/file QUANTIZE=int8
BACKBONE ?=
SIZE ?=
WEIGHTS ?=
QUANTIZE ?=
MODEL ?=
STORE ?= store
PORT ?= 50051
IMAGES ?=
PRODUCT ?=

export_args = $(if $(BACKBONE),--backbone $(BACKBONE)) $(if $(SIZE),--size $(SIZE)) \
	$(if $(WEIGHTS),--weights $(WEIGHTS)) $(if $(QUANTIZE),--quantize $(QUANTIZE))

.PHONY: install export proto bank serve demo test lint bench bench-accuracy clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[export,dev]'
	touch $(INSTALLED)

export: install
	$(PY) -m exporter $(export_args)

proto: install
	$(PY) -m grpc_tools.protoc -Ipatchcore_edge/v1=protos/patchcore/edge/v1 \
		--python_out=clients/python --pyi_out=clients/python --grpc_python_out=clients/python \
		patchcore_edge/v1/inspection.proto

test: install
	$(PY) -m pytest -q

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
