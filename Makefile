# Two commands do all set-up on a fresh machine:
#   make run    serve the shipped model (models/emission8-default) over REST on embedded SQLite
#   make test   lint and run every test
# Also: make train (train the cross-entropy baseline on Deep4Chem into runs/ce), make bench.
# Both create .venv and install what they need. Users elsewhere: `make test CONSTRAINTS=`
# lets pip pick your own torch build instead of the pinned CPU wheel.

PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?= constraints/torch-cpu.txt
PIP_C = $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
BIN = $(VENV)/bin
DATA ?= $(or $(ZINCFLUOR_DATA_DIR),../shared/data)/deep4chem/DB_for_chromophore_deep4chem.csv
RUN_DIR ?= runs/ce
EPOCHS ?= 100
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run train test lint venv clean bench chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/pip install --quiet $(PIP_C) -e '.[test,ray]'
	touch $@

venv: $(VENV)/.installed

lint: venv
	$(BIN)/ruff check zincfluor tests bench $(wildcard api migrations)

# Debian's Chromium for the web page's browser tests (tests/web): installed when root, else
# those tests skip and say why
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get install -y chromium || { apt-get update && apt-get install -y chromium; } \
	  || echo "chromium could not be installed: the browser tests (tests/web) will skip"; \
	else echo "no /usr/bin/chromium and not root: the browser tests (tests/web) will skip (sudo apt-get install chromium)"; fi

test: venv lint chromium
	$(BIN)/python -m pytest -q

$(RUN_DIR)/checkpoint.pt: | venv
	$(BIN)/zincfluor train --data $(DATA) --epochs $(EPOCHS) --out $(RUN_DIR)

run: venv
	@echo "API keys: $(BIN)/zincfluor apikey create --name YOU (in another terminal); docs: http://$(HOST):$(PORT)/docs"
	$(BIN)/zincfluor serve --host $(HOST) --port $(PORT)

train: venv $(RUN_DIR)/checkpoint.pt
	$(BIN)/zincfluor predict --model $(RUN_DIR) examples/demo.smi --out $(RUN_DIR)/demo_predictions.csv
	@echo "Predictions written to $(RUN_DIR)/demo_predictions.csv"

bench: venv
	$(BIN)/python bench/featurize.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
