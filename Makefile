# The commands a user types. Every target installs the project into .venv first, so any of them works
# first on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

# make export BACKBONE=efficientnet_lite0 SIZE=224 WEIGHTS=path/to/file QUANTIZE=int8 FORCE=1 (0 = not)
BACKBONE ?=
SIZE ?=
WEIGHTS ?=
QUANTIZE ?=
FORCE ?=
MODEL ?=
MODELS ?=
STORE ?= store
PORT ?= 50051
IMAGES ?=
PRODUCT ?=
DEMO_ARGS ?=

# Paths are passed quoted, so they may hold spaces.
export_args = $(if $(BACKBONE),--backbone $(BACKBONE)) $(if $(SIZE),--size $(SIZE)) \
	$(if $(WEIGHTS),--weights "$(WEIGHTS)") $(if $(QUANTIZE),--quantize $(QUANTIZE)) \
	$(if $(filter-out 0,$(FORCE)),--force)

.PHONY: install export proto bank serve demo fleet-demo bundle test lint bench bench-accuracy clean

install: $(INSTALLED)

# The three distributions in one pip command, so pip takes the stubs and the client from here, not an index.
DISTRIBUTIONS := -e ./stubs/python -e ./clients/python -e '.[export,dev]'

$(INSTALLED): pyproject.toml clients/python/pyproject.toml stubs/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(DISTRIBUTIONS)
	touch $(INSTALLED)

export: install
	$(PY) -m exporter $(export_args)

# make bank MODEL=models/efficientnet_lite0_224.onnx IMAGES=good/widget PRODUCT=widget [STORE=store]
#           [BANK_ARGS="--augment-rotations --coreset-ratio 0.1"]
bank: install
	@test -n "$(MODEL)" -a -n "$(IMAGES)" -a -n "$(PRODUCT)" || \
		{ echo "usage: make bank MODEL=file.onnx IMAGES=folder PRODUCT=id [STORE=dir] [BANK_ARGS=...]"; exit 2; }
	$(PY) -m exporter.bank --model "$(MODEL)" --images "$(IMAGES)" --product "$(PRODUCT)" --store "$(STORE)" \
		$(BANK_ARGS)

# make serve [MODEL=models/file.onnx] [STORE=store] [PORT=50051]; default model: the exported one in models/
serve_model = $(or $(MODEL),$(firstword $(wildcard models/dinov2_vits14_224.onnx models/efficientnet_lite0_224.onnx)))
serve: install
	@test -n "$(serve_model)" || { echo "no model in models/: run make export first, or pass MODEL=file.onnx"; exit 2; }
	$(PY) -m server --model "$(serve_model)" --store "$(STORE)" --port $(PORT)

# Exports a model if there is none, then teaches generated parts and streams frames through a local server.
# make demo [DEMO_ARGS="--watch 0"]
demo: install
	$(PY) -m patchcore_client.demo --models models --out demo-out $(DEMO_ARGS)

# A nats-server on a temp dir and two servers sharing it: teach on one, stream to both, versions, frames/s and
# the sync latency between them. make fleet-demo [MODEL=models/file.onnx]
fleet-demo: install
	$(PY) -m patchcore_client.fleet_demo $(if $(MODEL),--model "$(MODEL)")

# Regenerates the Python stubs (stubs/python/patchcore_edge) from protos/; C++ and C# generate at build time.
proto: install
	$(PY) stubs/python/generate_stubs.py

# The offline installer of a line PC: dist/patchcore-edge-<version>-<python tag>-<platform>.tar.gz with wheels
# (no torch), models, install.sh and the systemd unit. Ships every models/*.onnx unless MODELS names files
# (the first is the service's default); refuses models exported from random weights.
# make bundle [MODELS="models/efficientnet_lite0_224.onnx"]
bundle: install
	$(PY) -m deploy.bundle $(if $(MODELS),--models $(MODELS))

# One run, one table: raw model throughput, server latency and stream throughput, teach time, memory, for
# every backbone at 224 (DINOv2-S with random weights, speed only). Written to bench-results/perf.md.
bench: install
	$(PY) -m tests.benchmarks.perf $(BENCH_ARGS)

# Few-shot accuracy (8 good images teach): elpv solar cells (image AUROC, false alarms, misses) and textures
# with planted defects (pixel AUROC), EfficientNet-Lite0/2 at 224 and 320. One table in bench-results/accuracy.md.
# make bench-accuracy [ACCURACY_ARGS="--seeds 5"]
bench-accuracy: install
	$(PY) -m tests.benchmarks.accuracy $(ACCURACY_ARGS)

test: install
	$(PY) -m pytest -q -rs

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
