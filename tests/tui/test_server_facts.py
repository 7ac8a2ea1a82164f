"""``investigate --cloud X --server NAME`` without ``-s``: the symptom picked in the TUI
starts from the API's answer (``server.host``, ``server.tap`` ...), as the headless
``-s`` path does, and its journal keeps them.

The resolution is the one the compute-service-down lab's API gave for ``web-01``
(tests/rehearsals/compute-service-down-faulty: its inventory, its recorded answers);
the CLI hands it to the app as ``session_meta`` (``tui/session_cli.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from engine.playbook.graph import PlaybookGraph
from engine.remote.inventory import load_inventory
from engine.remote.replay import ReplayRunner, load_recordings
from engine.server_resolution import ServerNic, ServerResolution, narrow
from engine.session import Session
from tui.app import CloudtalesApp
from tui.screens.investigation import InvestigationScreen
from tui.widgets.facts_panel import FactsPanel

REHEARSAL = Path(__file__).resolve().parent.parent / "rehearsals" / "compute-service-down-faulty"
RES = ServerResolution(
    cloud="compute-service-down-lab", server_id="5b0e2a1c-77d4-4f0e-9a57-3c1f0b2d9e11",
    server_name="web-01", os_host="compute-1", host="compute-1",
    instance_name="instance-00000001", via="the hypervisors' server lists (server show: 500)",
    nics=(ServerNic("fa:16:3e:5b:0e:2a", "tap5b0e2a1c-77", "libvirt domain on compute-1"),),
    notes=("ports: no network endpoint in the catalogue",),
)  # fmt: skip
SYMPTOM = "instance-unreachable"


def _journal_facts(journal: Path) -> dict[str, tuple[object, object]]:
    events = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    facts = [e.get("data", e) for e in events if e.get("type") == "fact"]
    return {f["name"]: (f["value"], f["source"]) for f in facts}


async def test_a_symptom_picked_after_server_starts_with_its_facts(
    graph: PlaybookGraph, tmp_path: Path
) -> None:
    inventory = narrow(load_inventory(REHEARSAL / "inventory.yaml"), RES)
    entries = yaml.safe_load((REHEARSAL / "recordings.yaml").read_text())
    runner = ReplayRunner(load_recordings(entries, REHEARSAL))
    journal = tmp_path / "journal.jsonl"
    app = CloudtalesApp(
        graph=graph,
        inventory=inventory,
        journal_path=journal,
        runner_factory=lambda _inv: runner,
        session_meta={"server": RES.as_event()},
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press(*SYMPTOM)  # typing filters the picker
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, InvestigationScreen)
        assert app.session is not None
        assert app.session.walker.state.symptom == SYMPTOM
        facts = app.session.walker.facts
        assert facts["server.host"] == "compute-1"
        assert facts["server.tap"] == "tap5b0e2a1c-77"
        assert facts["server.mac"] == "fa:16:3e:5b:0e:2a"
        assert facts["server.instance_name"] == "instance-00000001"
        shown = app.screen.query_one(FactsPanel).plain
        assert "server.host = compute-1" in shown
        assert "server.tap = tap5b0e2a1c-77" in shown
    kept = _journal_facts(journal)
    assert kept == {name: (value, "api") for name, value in RES.facts().items()}


def test_session_start_sets_them_once(graph: PlaybookGraph, tmp_path: Path) -> None:
    """The headless ``-s`` path and the picker both go through ``Session.start``: each fact
    is journalled once, from the API."""
    inventory = narrow(load_inventory(REHEARSAL / "inventory.yaml"), RES)
    journal = tmp_path / "j.jsonl"
    session = Session.start(
        graph, inventory, ReplayRunner([]), SYMPTOM, journal, server=RES.as_event()
    )
    session.journal.close()
    lines = [json.loads(x) for x in journal.read_text().splitlines()]
    names = [e.get("data", e)["name"] for e in lines if e.get("type") == "fact"]
    assert sorted(names) == sorted(RES.facts())
