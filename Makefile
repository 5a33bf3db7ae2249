# YABOT — two commands set up a fresh machine that has Python 3.11:
#   make run    the whole system (bot, worker, beat, API, Flower, Telegram stand-in)
#   make test   the test suite (SQLite, then PostgreSQL when one is reachable)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test test-sqlite test-postgresql bench lint story-check clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the pinned requirements

run: $(STAMP) ## run everything on embedded defaults (Ctrl-C stops it all)
	$(BIN)/python -m dev.run

test: test-sqlite test-postgresql ## run the whole test suite on both databases

test-sqlite: $(STAMP) ## the suite on SQLite
	$(BIN)/python -m pytest

test-postgresql: $(STAMP) ## the suite on PostgreSQL (skipped, saying why, when none is reachable)
	YABOT_TEST_DB=postgresql $(BIN)/python -m pytest -m "not sqlite_only"

bench: $(STAMP) ## benchmarks: print throughput and latency on this machine
	$(BIN)/python -m bench

# --- soak run (issue 7; bench/soak.py) ---
.PHONY: soak
soak: $(STAMP) ## soak run: 12 min of mixed traffic (~5,000 actions) under crash faults; figures
	$(BIN)/python -m bench.soak --minutes $(or $(MINUTES),12)
# --- end soak run ---

lint: $(STAMP) ## ruff
	$(BIN)/ruff check .

story-check: $(STAMP) ## check the story files in content/story/ (file:line: problem)
	$(BIN)/python -m services.story_checker

clean: ## remove local state (var/, beat schedule); keeps .venv
	rm -rf var celerybeat-schedule*
