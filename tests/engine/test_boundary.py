"""The engine is UI-free (harlequin's rule): importing any engine module, or running a
non-UI subcommand, never pulls in textual or rich."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import engine

REPO = Path(__file__).resolve().parents[2]
ENGINE_MODULES = sorted(m.name for m in pkgutil.walk_packages(engine.__path__, prefix="engine."))

_PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
ui = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich"))
print(json.dumps(ui))
"""


def _ui_modules_after(*modules: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *modules],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    return list(json.loads(out))


def test_every_engine_module_is_found() -> None:
    assert "engine.walker" in ENGINE_MODULES
    assert "engine.remote.ssh" in ENGINE_MODULES
    assert len(ENGINE_MODULES) > 30


def test_engine_never_imports_textual_or_rich() -> None:
    assert _ui_modules_after(*ENGINE_MODULES) == []


_CLI_PROBE = """
import contextlib, io, json, sys
from tui.cli import main
args = json.loads(sys.argv[1])
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main(args)
    except SystemExit:
        pass
ui = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich"))
print(json.dumps(ui))
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["lint"],
        ["symptoms"],
        ["lab", "status", "double-vlan"],
        ["rehearse", "tests/rehearsals"],
    ],
    ids=lambda a: " ".join(a),
)
def test_non_ui_subcommands_do_not_import_textual(argv: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CLI_PROBE, json.dumps(argv)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    assert json.loads(out) == []


_LAYER_PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
above = ("engine.checks", "engine.remote")
print(json.dumps(sorted(m for m in sys.modules if m.startswith(above))))
"""


@pytest.mark.parametrize(
    "module",
    ["engine.results", *(m for m in ENGINE_MODULES if m.startswith("engine.detectors."))],
)
def test_results_and_detectors_stay_below_checks_and_transports(module: str) -> None:
    """Result types sit at the bottom; a detector is a pure function of parsed data."""
    out = subprocess.run(
        [sys.executable, "-c", _LAYER_PROBE, module],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    assert json.loads(out) == []
