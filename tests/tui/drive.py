"""Reach each cloudtales screen from a recorded Double VLAN session (the replay runner
of conftest.py, so the real checks, walker and screens run): used by the key walk,
the 80x24 layout tests and the snapshot tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.drill_score import DrillAttempt, DrillSpec
from engine.playbook.graph import PlaybookGraph
from engine.remote.inventory import Inventory
from engine.remote.replay import ReplayRunner
from engine.session import Session
from tui.app import CloudtalesApp
from tui.screens.investigation import InvestigationScreen

SPEC = DrillSpec("double-vlan", "ssh-freezes-on-large-output", "vlan-on-vlan")
META = {"drill": "double-vlan", "healthy": False, "lab_mode": "tc-bpf"}
SCREENS = ("picker", "investigation", "packets", "packet-detail", "diagnosis", "score-card")


def drill_app(
    graph: PlaybookGraph,
    inventory: Inventory,
    runner: ReplayRunner,
    tmp_path: Path,
    ansi: bool = False,
) -> CloudtalesApp:
    """A drill already started on the recorded lab (the investigation screen first)."""
    journal = tmp_path / "journal.jsonl"
    session = Session.start(graph, inventory, runner, SPEC.symptom, journal, **META)
    return CloudtalesApp(
        graph=graph,
        inventory=inventory,
        session=session,
        journal_path=journal,
        title="cloudtales drill: Double VLAN",
        runner_factory=lambda inv: runner,
        drill=DrillAttempt(SPEC, history=tmp_path / "drills.jsonl"),
        session_meta=META,
        ansi=ansi,
    )


async def settle(app: CloudtalesApp, pilot: Any) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


async def steps(app: CloudtalesApp, pilot: Any, n: int = 2) -> InvestigationScreen:
    """Run ``n`` steps: the MTU sweep, then the capture at every point (a packet table)."""
    screen = app.screen
    assert isinstance(screen, InvestigationScreen)
    for _ in range(n):
        await pilot.press("r")
        await settle(app, pilot)
    for pane in screen.panes:
        pane.flush(final=True)
    await pilot.pause()
    return screen


async def reach(app: CloudtalesApp, pilot: Any, name: str) -> None:
    """From a fresh ``drill_app`` (or the picker of a plain app) to the screen ``name``."""
    if name == "picker":
        return
    await steps(app, pilot)
    if name == "investigation":
        return
    if name in ("packets", "packet-detail"):
        await pilot.press("t")
        await pilot.pause()
        if name == "packet-detail":
            await pilot.press("enter")
            await settle(app, pilot)
        return
    await pilot.press("a")  # autopilot to the diagnosis: the score card on top of it
    await settle(app, pilot)
    if name == "diagnosis":
        await pilot.press("enter")
        await pilot.pause()
