# The two commands of the README:  `make sample` (main job on the embedded sample) and `make test`.
# Set-up also installs the `cluster` extra (PostgreSQL/Ray deployments), which tests/cluster exercises.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup sample test test-slow ui

$(STAMP): pyproject.toml scripts/system_deps.sh
	bash scripts/system_deps.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: these wheels are the ones on the build machines' local wheel store.
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[test,cluster]'
	touch $(STAMP)

# The real LLaMA/Vicuna vocabulary (from llama-cpp-python's sdist) for the label-mask test.
VOCAB := $(VENV)/vocab/ggml-vocab-llama-spm.gguf
$(VOCAB): scripts/fetch_llama_vocab.py | $(STAMP)
	$(PY) scripts/fetch_llama_vocab.py $(VENV)/vocab

setup: $(STAMP) $(VOCAB)

sample: setup
	$(VENV)/bin/spatialmix run-sample

test: setup
	$(VENV)/bin/pytest -q

test-slow: setup
	$(VENV)/bin/pytest -q -m slow

ui: setup
	$(VENV)/bin/spatialmix ui
