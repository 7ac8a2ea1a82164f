"""The picker paints from the cached symptom index; the engine loads after it.

The symptom index is written and read in a temporary cache directory; the app runs
under the Pilot with a loader that waits on an event, so what the picker shows before
the playbooks are loaded is observed, not assumed."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine.errors import InventoryError
from engine.playbook.files import default_playbook_dir, playbook_files
from engine.playbook.graph import PlaybookGraph
from engine.playbook.index import (
    SymptomIndex,
    cache_dir,
    cached_index,
    index_key,
    store_index,
)
from engine.remote.inventory import Inventory
from engine.remote.replay import ReplayRunner
from tui.app import CloudtalesApp
from tui.quick_start import picks_first
from tui.screens.investigation import InvestigationScreen
from tui.screens.symptom_picker import SymptomPickerScreen

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLOUDTALES_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_index_round_trips_and_a_changed_playbook_makes_it_stale(
    graph: PlaybookGraph, tmp_path: Path
) -> None:
    books = tmp_path / "playbooks"
    shutil.copytree(default_playbook_dir(), books)
    assert [p.name for p in playbook_files([books])] == sorted(p.name for p in books.glob("*.yaml"))
    key = index_key([books])
    assert cached_index(key) is None  # nothing stored yet
    index = SymptomIndex.from_graph(graph)
    store_index(key, index)
    again = cached_index(key)
    assert again is not None
    assert {s.id for s in again.symptoms()} == {s.id for s in graph.symptoms()}
    sym = graph.symptoms()[0]
    assert again.symptom(sym.id).title == sym.title
    assert list(again.symptom(sym.id).keywords) == list(sym.keywords)
    assert again.tale_of(sym.id) == graph.tale_of(sym.id)

    first = sorted(books.glob("*.yaml"))[0]
    first.write_text(first.read_text() + "\n# edited\n")
    assert index_key([books]) != key
    assert cached_index(index_key([books])) is None
    assert index_key([tmp_path / "missing.yaml"]) is None


def test_a_corrupt_or_unwritable_cache_is_only_a_miss(graph: PlaybookGraph, cache: Path) -> None:
    key = index_key(None)
    cache.mkdir(parents=True)
    (cache / "symptom-index.json").write_text("{not json")
    assert cached_index(key) is None
    cache.chmod(0o500)
    try:
        store_index(key, SymptomIndex.from_graph(graph))  # no exception
    finally:
        cache.chmod(0o700)
    assert cache_dir() == cache


def test_picks_first_only_for_the_plain_interactive_investigate() -> None:
    def ns(**kw: object) -> argparse.Namespace:
        base: dict[str, object] = {"cmd": "investigate", "inventory": "inv.yaml"}
        base["symptom"] = None
        base |= {"resume": None, "autopilot": False, "serve": None}
        return argparse.Namespace(**(base | kw))

    assert picks_first(ns())
    assert not picks_first(ns(symptom="instance-unreachable"))
    assert not picks_first(ns(resume="j.jsonl"))
    assert not picks_first(ns(autopilot=True))
    assert not picks_first(ns(serve="8000"))
    assert not picks_first(ns(inventory=None))
    assert not picks_first(ns(cmd="drill"))


async def test_the_picker_paints_before_the_load_and_a_pick_waits_for_it(
    graph: PlaybookGraph, inventory: Inventory, runner: ReplayRunner, tmp_path: Path
) -> None:
    release = threading.Event()
    loads: list[str] = []

    def load() -> tuple[PlaybookGraph, Inventory]:
        release.wait(timeout=30)
        loads.append("done")
        return graph, inventory

    app = CloudtalesApp(
        graph=None,
        inventory=None,
        journal_path=tmp_path / "journal.jsonl",
        runner_factory=lambda inv: runner,
        picker=SymptomIndex.from_graph(graph),
        loader=load,
    )
    async with app.run_test() as pilot:
        await pilot.pause()
        assert isinstance(app.screen, SymptomPickerScreen)
        assert not app.loaded
        shown = app.screen.query_one("#symptoms").option_count  # type: ignore[attr-defined]
        assert shown == len(graph.symptoms())
        await pilot.press("enter")  # the first symptom
        await pilot.pause()
        assert app.session is None  # the pick waits for the graph and the inventory
        assert not isinstance(app.screen, InvestigationScreen)
        release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert loads == ["done"]
        assert app.loaded
        assert isinstance(app.screen, InvestigationScreen)
        assert app.sub_title.endswith(f"({inventory.name})")


async def test_a_failed_load_exits_with_its_one_line(graph: PlaybookGraph) -> None:
    def load() -> tuple[PlaybookGraph, Inventory]:
        raise InventoryError("inv.yaml: hosts.compute.port: must be 1-65535")

    app = CloudtalesApp(
        graph=None, inventory=None, picker=SymptomIndex.from_graph(graph), loader=load
    )
    async with app.run_test() as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert app.load_error == "inv.yaml: hosts.compute.port: must be 1-65535"
    assert app.return_code == 2


def test_the_first_frame_imports_neither_the_engine_graph_nor_ssh() -> None:
    """What the picker path imports before it paints (harlequin-style boundary test)."""
    code = (
        "import sys, tui.cli, tui.quick_start, tui.app, engine.playbook.index\n"
        "heavy = ['networkx', 'pydantic', 'yaml', 'asyncssh', 'scapy', 'pymysql',\n"
        "         'libvirt', 'engine.session', 'tui.screens.investigation']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_help_does_not_import_textual() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from tui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "print('textual' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
