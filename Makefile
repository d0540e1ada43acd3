# The two commands a user needs: `make run` and `make test`.
VENV ?= .venv
PY := $(abspath $(VENV))/bin/python

.PHONY: install run test lint bench

install:
	VENV=$(VENV) scripts/install.sh

run: install
	PYTHON=$(PY) scripts/start.sh

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: install
	$(PY) bench/asr.py
	$(PY) bench/tts.py
	$(PY) bench/snac_stream.py
	$(PY) bench/asr_scale.py
