"""``drill --surprise`` on the real Double VLAN lab: built healthy, made faulty in place.

The same investigation, over the same SSH connections, finds nothing wrong before
the fault and the tale's root cause after it; the lab then checks out as exactly
what ``up(healthy=False)`` builds. The CLI path is run end to end as well.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.playbook.graph import PlaybookGraph, load_valid_graph
from engine.remote.factory import make_runner
from engine.remote.inventory import load_inventory
from engine.session import Session
from labs.core.faults import inject_fault
from labs.double_vlan.lab import DoubleVlanLab

pytestmark = pytest.mark.lab
SYMPTOM = "ssh-freezes-on-large-output"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def graph() -> PlaybookGraph:
    return load_valid_graph()


@pytest.fixture
def healthy_lab() -> Iterator[DoubleVlanLab]:
    lab = DoubleVlanLab()
    lab.up(healthy=True)
    try:
        yield lab
    finally:
        lab.down()


def _walk(graph: PlaybookGraph, lab: DoubleVlanLab, journal: Path) -> str:
    inventory = load_inventory(lab.inventory_path())
    session = Session.start(graph, inventory, make_runner(inventory), SYMPTOM, journal)

    async def walk() -> None:
        try:
            await session.autopilot()
        finally:
            await session.close()

    asyncio.run(walk())
    assert session.walker.diagnosis is not None
    return session.walker.diagnosis.id


def test_the_fault_starts_in_place(
    graph: PlaybookGraph, healthy_lab: DoubleVlanLab, tmp_path: Path
) -> None:
    keys_before = (healthy_lab.run_dir / "known_hosts").read_bytes()
    assert _walk(graph, healthy_lab, tmp_path / "before.jsonl") == "path-mtu-ok"
    injection = inject_fault(healthy_lab)
    assert not injection.rebuilt
    assert "vlan_interface=vlan20" in injection.how
    status = healthy_lab.status()
    assert status.running
    assert status.healthy is False
    assert not [d for d in status.details if d.startswith("problem:")], status.details
    assert (healthy_lab.run_dir / "known_hosts").read_bytes() == keys_before  # same hosts
    assert _walk(graph, healthy_lab, tmp_path / "after.jsonl") == "vlan-on-vlan"
    assert inject_fault(healthy_lab).how == "already faulty"


def test_surprise_drill_from_the_cli(tmp_path: Path) -> None:
    journal = tmp_path / "drill.jsonl"
    out = subprocess.run(
        [sys.executable, "-m", "tui.cli", "drill", "double-vlan", "--surprise"]
        + ["--surprise-within", "2", "--autopilot", "--journal", str(journal)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == "diagnosis: vlan-on-vlan"
    assert any(line.startswith("surprise: fault in after ") for line in lines)
    kinds = [line.split('"type": "')[1].split('"')[0] for line in journal.read_text().splitlines()]
    assert kinds[:2] == ["session", "fault_injected"]
