"""Reach each cloudtales screen from a recorded Double VLAN session (the replay runner
of conftest.py, so the real checks, walker and screens run): used by the key walk,
the 80x24 layout tests and the snapshot tests."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual.app import App

from engine.drill_score import DrillAttempt, DrillSpec, ScoreCard
from engine.playbook.graph import PlaybookGraph
from engine.remote.inventory import Inventory
from engine.remote.replay import ReplayRunner
from engine.session import Session
from tui.app import CloudtalesApp
from tui.screens.diagnosis import DiagnosisScreen
from tui.screens.investigation import InvestigationScreen
from tui.screens.packet_detail import PacketDetailScreen
from tui.screens.score_card import ScoreCardScreen
from tui.screens.symptom_picker import SymptomPickerScreen
from tui.widgets.notice_bar import NoticeBar

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
    screen.update_pane_tabs()
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


# ---- a tour of every screen (snapshots, README screenshots) ----------------------
Shot = Callable[[str], Awaitable[None]]


def quiet(app: App[Any]) -> None:
    """No notice on screen: their timing is not part of a snapshot."""
    app.clear_notifications()
    for screen in app.screen_stack:
        for bar in screen.query(NoticeBar):
            bar.notices.clear()
            bar.refresh_notices()


def fixed_card(card: ScoreCard) -> ScoreCard:
    """The score card with a fixed time, so a snapshot does not depend on the clock."""
    return replace(card, seconds=134.0, ts=1_700_000_000.0, started=1_699_999_866.0)


async def tour(app: CloudtalesApp, pilot: Any, shot: Shot, tmp_path: Path) -> None:
    """picker -> investigation (2 steps) -> ? -> packets -> packet detail -> diagnosis
    -> score card, calling ``shot(name)`` on each with no notice showing."""
    assert isinstance(app.screen, SymptomPickerScreen)
    await pilot.press(*"freeze", "escape")  # typed into the filter; esc: back to the list
    await pilot.pause()
    await shot("picker")
    await pilot.press("enter")
    await pilot.pause()
    inv = await steps(app, pilot)
    quiet(app)
    await pilot.pause()
    await shot("investigation")
    await pilot.press("question_mark")
    await pilot.pause()
    await shot("help")
    await pilot.press("escape", "t")
    await pilot.pause()
    quiet(app)
    await shot("packets")
    await pilot.press("enter")
    await settle(app, pilot)
    detail = app.screen
    assert isinstance(detail, PacketDetailScreen)
    while not detail.points or not detail.points[0].has_focus:  # decoded in a thread
        await pilot.pause(0.05)
    await pilot.pause()
    await shot("packet-detail")
    await pilot.press("escape", "escape", "a")
    await settle(app, pilot)
    assert isinstance(app.screen, DiagnosisScreen)
    quiet(app)
    await pilot.pause()
    await shot("diagnosis")
    attempt = DrillAttempt(SPEC, history=tmp_path / "drills.jsonl")
    card = fixed_card(attempt.finish(inv.session.graph, inv.walker.events))
    app.push_screen(ScoreCardScreen(card, [card], packets=inv.open_packets))
    await pilot.pause()
    await shot("score-card")


def fixed_journal(journal: Path, into: Path) -> Path:
    """The journal with its times moved to a fixed day (a follower shows them) and
    without its ``live`` samples (how many there are depends on the machine's speed)."""
    lines = []
    for n, line in enumerate(journal.read_text().splitlines()):
        event = json.loads(line)
        if event.get("type") == "live":
            continue
        event["ts"] = 1_700_000_000.0 + n
        lines.append(json.dumps(event))
    into.write_text("\n".join(lines) + "\n")
    return into
