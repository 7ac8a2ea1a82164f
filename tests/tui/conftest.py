"""The TUI driven by the Pilot against a recorded Double VLAN lab session.

The runner replays what the real lab answered (tests/rehearsals/double-vlan-faulty),
so the app runs the real checks, parsers, detectors and walker; only the transport
is a recording. Ad-hoc pane commands get recorded answers too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.playbook.graph import PlaybookGraph, load_valid_graph
from engine.remote.inventory import Inventory, load_inventory
from engine.remote.replay import Recording, ReplayRunner, load_recordings
from tui.app import CloudtalesApp

REHEARSAL = Path(__file__).resolve().parent.parent / "rehearsals" / "double-vlan-faulty"
IP_S_LINK = """\
4: bond0@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP
    RX:  bytes packets errors dropped  missed   mcast
        123456     321      0       7       0       0
"""


@pytest.fixture(scope="session")
def graph() -> PlaybookGraph:
    return load_valid_graph()


@pytest.fixture
def inventory() -> Inventory:
    return load_inventory(REHEARSAL / "inventory.yaml")


@pytest.fixture
def runner() -> ReplayRunner:
    entries = yaml.safe_load((REHEARSAL / "recordings.yaml").read_text())
    recordings = load_recordings(entries, REHEARSAL)
    recordings.append(Recording(host="*", match=r"^ip -s link", stdout=IP_S_LINK))
    return ReplayRunner(recordings)


@pytest.fixture
def make_app(graph: PlaybookGraph, inventory: Inventory, runner: ReplayRunner, tmp_path: Path):  # type: ignore[no-untyped-def]
    def make() -> CloudtalesApp:
        return CloudtalesApp(
            graph=graph,
            inventory=inventory,
            journal_path=tmp_path / "journal.jsonl",
            runner_factory=lambda inv: runner,
        )

    return make
