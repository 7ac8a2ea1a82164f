# Quick start (as root on Debian/Ubuntu):  make drill   |   make test
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup drill test lint screenshots bench

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

bench: setup
	$(BIN)/python bench/bench_pcap.py
	$(BIN)/python bench/bench_panes.py
	$(BIN)/python bench/bench_drill.py
