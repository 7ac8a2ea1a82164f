# Quick start (as root on Debian/Ubuntu):  make drill   |   make test
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup drill test lint screenshots bench bench-quick

setup:
	@bash .ci/setup

drill: setup
	$(BIN)/cloudtales drill double-vlan

lint: setup
	$(BIN)/ruff check engine tui labs tests bench screenshots
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

screenshots: setup
	$(BIN)/python screenshots/make_screenshots.py

# every bench, then one table (each figure next to its anchor); bench-quick: short runs
bench: setup
	$(BIN)/python bench/run_all.py

bench-quick: setup
	$(BIN)/python bench/run_all.py --quick
