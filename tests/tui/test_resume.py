"""``--resume`` brings back everything the screen showed, and a drill is a drill again.

A drill is played once in the TUI over the recorded Double VLAN lab
(tests/rehearsals/double-vlan-faulty, replayed): a hint, a note, an ad-hoc pane, two
steps one by one, a step back, then autopilot to the diagnosis. At each quiet moment
the test notes what the screen shows. Then the journal is cut after every event k,
as ``kill -9`` leaves it (cleanly, and with half of event k+1 written), resumed with
``Session.resume`` an hour later, and the restored state compared with the
uninterrupted run's at event k; at the quiet moments, in the TUI, against what the
live screen showed.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import yaml
from textual.widgets import Input

from engine.drill_score import DrillAttempt, DrillSpec, clock, load_history, resumed_attempt
from engine.errors import CloudtalesError
from engine.journal import RESUMED, read_events
from engine.playbook.graph import PlaybookGraph
from engine.remote.inventory import Inventory, load_inventory
from engine.remote.replay import Recording, ReplayRunner, load_recordings
from engine.resume_state import ScreenReplay, restore
from engine.session import Session
from tests.tui.conftest import IP_S_LINK, REHEARSAL
from tui.app import CloudtalesApp
from tui.screens.investigation import InvestigationScreen
from tui.screens.modals import NoteModal
from tui.screens.packets import PacketTablesScreen
from tui.screens.score_card import ScoreCardScreen
from tui.widgets.facts_panel import FactsPanel

SIZE = (120, 40)
SPEC = DrillSpec("double-vlan", "ssh-freezes-on-large-output", "vlan-on-vlan")
META = {"drill": "double-vlan", "healthy": False, "lab_mode": "tc-bpf"}
NOTE = "trainee: the customer says big pages hang"
AN_HOUR = 3600.0
STATUS = "-- "


def _runner() -> ReplayRunner:
    entries = yaml.safe_load((REHEARSAL / "recordings.yaml").read_text())
    recordings = load_recordings(entries, REHEARSAL)
    recordings.append(Recording(host="*", match=r"^ip -s link", stdout=IP_S_LINK))
    return ReplayRunner(recordings)


@dataclass(frozen=True)
class Seen:
    """What the live screen showed after ``k`` events."""

    k: int
    what: str
    path: list[str]
    facts: dict[str, object]
    notes: list[str]
    packets: tuple[str, tuple[object, ...]] | None
    panes: dict[str, tuple[str, list[str]]]  # pane id -> (source, lines)
    sub_title: str


@dataclass(frozen=True)
class Played:
    journal: Path
    seen: list[Seen]
    points: int
    history: Path


def _seen(screen: InvestigationScreen, what: str) -> Seen:
    screen._tick()  # what the 1-second timer does: journal the live sample, show the clock
    panes = {p.id or "": (p.source, list(p.log_widget.lines)) for p in screen.panes if p.source}
    w = screen.walker
    return Seen(
        k=len(w.events),
        what=what,
        path=w.path,
        facts=dict(w.facts),
        notes=[t for _, t in w.state.notes],
        packets=screen.packet_tables,
        panes=panes,
        sub_title=str(screen.app.sub_title),
    )


async def _play(graph: PlaybookGraph, inventory: Inventory, tmp: Path) -> Played:
    journal, history = tmp / "drill.jsonl", tmp / "drills.jsonl"
    runner = _runner()
    session = Session.start(graph, inventory, runner, SPEC.symptom, journal, **META)
    attempt = DrillAttempt(SPEC, history=history)
    app = CloudtalesApp(graph=graph, inventory=inventory, session=session, drill=attempt)
    seen: list[Seen] = []
    async with app.run_test(size=SIZE) as pilot:

        async def settle() -> None:
            await app.workers.wait_for_complete()
            await pilot.pause()

        screen = app.screen
        assert isinstance(screen, InvestigationScreen)
        await pilot.press("h")
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, NoteModal)
        app.screen.query_one(Input).value = NOTE
        await pilot.press("enter")
        await pilot.pause()
        screen.open_pane("compute", "ip -s link show bond0")
        await settle()
        seen.append(_seen(screen, "hint, note and a pane"))
        for what in ("the MTU sweep", "the capture (packet table)"):
            await pilot.press("r")
            await settle()
            seen.append(_seen(screen, what))
        await pilot.press("b")
        await settle()
        seen.append(_seen(screen, "a step back"))
        await pilot.press("a")
        await settle()
        assert isinstance(app.screen, ScoreCardScreen)
        seen.append(_seen(screen, "the diagnosis"))
        points = app.screen.card.points
    return Played(journal, seen, points, history)


@pytest.fixture(scope="module")
def played(graph: PlaybookGraph, tmp_path_factory: pytest.TempPathFactory) -> Played:
    inventory = load_inventory(REHEARSAL / "inventory.yaml")
    return asyncio.run(_play(graph, inventory, tmp_path_factory.mktemp("drill")))


def _an_hour_earlier(journal: Path) -> list[bytes]:
    """The journal's lines as if written an hour ago (the process then dead until now)."""
    out = []
    for line in journal.read_bytes().splitlines(keepends=True):
        obj = json.loads(line)
        obj["ts"] -= AN_HOUR
        out.append((json.dumps(obj) + "\n").encode())
    return out


def test_the_drill_played_through_everything_resume_must_bring_back(played: Played) -> None:
    kinds = [e.type for e in read_events(played.journal)]
    assert {"hint", "note", "pane_opened", "live", "back"} <= set(kinds)
    capture = played.seen[2]
    assert capture.packets is not None
    assert capture.packets[0] == "capture-path"
    assert played.seen[3].packets == capture.packets  # a step back keeps the table shown
    assert {src for src, _ in capture.panes.values()} >= {"controller:bond0", "compute:bond0"}
    assert played.points == 85  # one hint (-10), one step back (-2) and so one extra step (-3)


def test_a_kill_after_any_event_resumes_to_the_uninterrupted_state(
    graph: PlaybookGraph, played: Played, tmp_path: Path
) -> None:
    lines = _an_hour_earlier(played.journal)
    earlier = tmp_path / "an-hour-ago.jsonl"
    earlier.write_bytes(b"".join(lines))
    events = list(read_events(earlier))
    assert len(lines) == len(events) > 20
    inventory = load_inventory(REHEARSAL / "inventory.yaml")
    uninterrupted = ScreenReplay(graph)
    checked = 0
    for k in range(1, len(lines) + 1):
        uninterrupted.apply(events[k - 1])
        want = uninterrupted.state()
        torn_next = lines[k][: len(lines[k]) // 2] if k < len(lines) else b""
        for tail in {b"", torn_next}:
            cut = tmp_path / f"cut-{k}-{len(tail)}.jsonl"
            cut.write_bytes(b"".join(lines[:k]) + tail)
            session = Session.resume(graph, cut, lambda inv: _runner(), inventory)
            session.journal.close()
            resumed = session.walker.events
            assert [e.type for e in resumed] == [e.type for e in events[:k]] + [RESUMED]
            got = restore(graph, resumed)
            assert replace(got, events=k) == want, f"cut after event {k} (+{len(tail)} bytes)"
            assert [e.type for e in read_events(cut)][-1] == RESUMED  # the torn line sealed
            if want.drill is not None:  # the hour the process was dead does not count
                assert clock(resumed, now=resumed[-1].ts) == pytest.approx(want.drill.seconds)
                assert want.drill.seconds == pytest.approx(events[k - 1].ts - events[0].ts)
            checked += 1
    assert checked > 2 * len(lines) - 2
    final = uninterrupted.state()
    assert final.drill is not None
    assert final.drill.card.points == played.points
    assert final.drill.hints[0].startswith("run pmtu-outside-instance")


def test_a_journal_torn_inside_its_first_line_is_one_clear_error(
    graph: PlaybookGraph, played: Played, tmp_path: Path
) -> None:
    cut = tmp_path / "torn.jsonl"
    cut.write_bytes(played.journal.read_bytes()[:20])
    with pytest.raises(CloudtalesError, match=r"torn\.jsonl:1: not a cloudtales journal"):
        Session.resume(graph, cut, lambda inv: _runner())


def _shown_lines(log_lines: list[str]) -> list[str]:
    """A restored pane's journalled lines: after its last gap marker, before its note."""
    lines = [x for x in log_lines if not x.startswith("-- restored")]
    gaps = [i for i, x in enumerate(lines) if re.match(r"-- \d+ lines not journalled", x)]
    return lines[gaps[-1] + 1 :] if gaps else lines


def _without_clock(sub_title: str) -> str:
    return re.sub(r"\d\d:\d\d ·", "·", sub_title)


def _hints_and_points(sub_title: str) -> tuple[int, int]:
    found = re.search(r"(\d+) hints? · (\d+) pts", sub_title)
    assert found, sub_title
    return int(found[1]), int(found[2])


@pytest.mark.parametrize("moment", range(5))
async def test_the_resumed_screen_shows_what_the_live_screen_showed(
    graph: PlaybookGraph, played: Played, tmp_path: Path, moment: int
) -> None:
    seen = played.seen[moment]
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b"".join(played.journal.read_bytes().splitlines(keepends=True)[: seen.k]))
    history = tmp_path / "drills.jsonl"
    history.write_bytes(played.history.read_bytes() if played.history.exists() else b"")
    before = load_history("double-vlan", history)
    session = Session.resume(graph, cut, lambda inv: _runner())
    drill = resumed_attempt(graph, session.walker.events, history)
    assert drill is not None  # `investigate --resume` of a drill's journal is a drill
    assert (drill.spec, drill.blind, drill.surprise) == (SPEC, False, False)
    app = CloudtalesApp(graph=graph, inventory=session.inventory, session=session, drill=drill)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = next(s for s in app.screen_stack if isinstance(s, InvestigationScreen))
        for pane in screen.panes:
            pane.flush(final=True)  # what the pane's 30 Hz timer does
        assert screen.walker.path == seen.path
        assert screen.walker.facts == seen.facts
        assert NOTE in screen.query_one(FactsPanel).plain
        assert screen.packet_tables == seen.packets
        restored = {p.id: p for p in screen.panes if p.source}
        for pane_id, (source, live_lines) in seen.panes.items():
            pane = restored[pane_id]
            assert pane.source == source
            shown = _shown_lines(list(pane.log_widget.lines))
            assert shown, f"{pane_id} ({source}) came back empty"
            assert live_lines[-len(shown) :] == shown, f"{pane_id} ({source})"
        if seen.what == "the diagnosis":
            assert isinstance(app.screen, ScoreCardScreen)  # the card again
            assert app.screen.card.points == played.points
            assert app.screen.card.started == session.walker.events[0].ts
            after = load_history("double-vlan", history)
            assert len(after) == len(before) == 1  # the same attempt, scored once more
            return
        assert _without_clock(str(app.sub_title)) == _without_clock(seen.sub_title)
        hints, so_far = _hints_and_points(str(app.sub_title))
        assert hints == 1
        if seen.packets is not None:
            await pilot.press("t")
            await pilot.pause()
            assert isinstance(app.screen, PacketTablesScreen)
            assert app.screen.node == "capture-path"
            await pilot.press("escape")
            await pilot.pause()
        await pilot.press("h")  # still a drill: hints work and cost points
        await pilot.pause()
        screen._show_drill_clock()  # what the 1-second timer does
        assert _hints_and_points(str(app.sub_title)) == (2, so_far - 10)
        await app.action_quit()
    assert [e.type for e in read_events(cut)].count("hint") == 2
