"""Keyboard-first quality: ``?`` help, notes, the palette, --read-only, 80x24, 16 colours,
and cancelling a long check with one key. Over the recorded Double VLAN lab session."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncGenerator, Callable
from pathlib import Path

from textual.screen import Screen
from textual.widgets import Input

from engine.journal import read_events
from engine.playbook.graph import PlaybookGraph
from engine.remote.inventory import Host, Inventory
from engine.remote.runner import CommandResult
from engine.report import render_report
from tui.app import CloudtalesApp
from tui.cli import _parser
from tui.commands import palette_commands
from tui.screens.diagnosis import READ_ONLY_NOTE, DiagnosisScreen
from tui.screens.help import HelpScreen, screen_keys
from tui.screens.investigation import InvestigationScreen
from tui.screens.modals import NoteModal
from tui.widgets.facts_panel import FactsPanel
from tui.widgets.step_panel import StepPanel

SIZE = (80, 24)


async def _settle(app: CloudtalesApp, pilot) -> None:  # type: ignore[no-untyped-def]
    await app.workers.wait_for_complete()
    await pilot.pause()


async def _investigate(app: CloudtalesApp, pilot) -> InvestigationScreen:  # type: ignore[no-untyped-def]
    await pilot.press(*"freeze", "enter")
    await pilot.pause()
    assert isinstance(app.screen, InvestigationScreen)
    return app.screen


async def _until(pilot, condition: Callable[[], bool], what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 15
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.02)


def _fits(screen: Screen[object]) -> None:
    """Every visible widget lies inside 80x24 and the footer is on the last row."""
    for widget in screen.query("*"):
        if not widget.display or not widget.region:
            continue
        scrolled = [
            a
            for a in widget.ancestors_with_self[1:]
            if a is not screen and a.styles.overflow_y in ("auto", "scroll")
        ]
        if scrolled:  # inside a scrolling view: it scrolls, it does not overflow
            continue
        region = widget.region
        assert region.right <= SIZE[0], f"{widget} overflows to column {region.right}"
        assert region.bottom <= SIZE[1], f"{widget} overflows to row {region.bottom}"


async def test_help_lists_the_keys_of_the_current_screen(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")  # on the picker ? would be typed into the filter
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "Start  investigate the highlighted symptom" in app.screen.plain
        _fits(app.screen)
        await pilot.press("escape")
        await pilot.pause()
        screen = await _investigate(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        text = help_screen.plain
        for row in (
            "r, ⏎  Run",
            "a  Auto",
            "s  Skip",
            "b  Back",
            "n  Note",
            "c, esc  Cancel",
        ):
            assert row in text, row
        assert "Hint" not in text  # only in a drill
        assert help_screen.screen_name == "investigation"
        _fits(help_screen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen


async def test_a_note_is_journalled_shown_and_reported(
    make_app, graph: PlaybookGraph, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await _investigate(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, NoteModal)
        _fits(app.screen)
        await pilot.press("enter")  # empty: refused
        await pilot.pause()
        assert isinstance(app.screen, NoteModal)
        app.screen.query_one(Input).value = "customer says it started Monday"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen
        assert "customer says it started Monday" in screen.query_one(FactsPanel).plain
    events = list(read_events(tmp_path / "journal.jsonl"))
    notes = [e for e in events if e.type == "note"]
    assert [n.data["text"] for n in notes] == ["customer says it started Monday"]
    assert notes[0].ts >= events[0].ts > 0
    report = render_report(graph, events)
    assert "**note:** customer says it started Monday" in report  # in the timeline
    assert "> **Note**" in report  # and where it was made, under the step being worked on


async def test_every_action_is_in_the_palette(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await _investigate(app, pilot)
        names = {c.name for c in palette_commands(screen)}
        for expected in (
            "step: run",
            "step: autopilot",
            "step: skip",
            "step: back",
            "step: cancel",
            "journal: note",
            "journal: fact",
            "view: diagnosis",
            "view: keys (help)",
            "pane: open on compute",
            "pane: close focused",
            "view: zoom the focused pane",
            "app: quit",
        ):
            assert expected in names, expected
        assert len(palette_commands(screen)) >= len(screen_keys(screen))
        await pilot.press("ctrl+p")
        await pilot.press(*"step: skip")
        await pilot.pause()
        await pilot.press("enter")
        await _until(pilot, lambda: bool(screen.walker.state.steps), "the skip")
        assert screen.walker.state.steps[-1].how == "skipped"
        await pilot.press("a")
        await _settle(app, pilot)
        dia = app.screen
        assert isinstance(dia, DiagnosisScreen)
        names = {c.name for c in palette_commands(dia)}
        assert "remedy: run set-vlan-interface-to-bond" in names
        assert "remedy: run highlighted" in names
        assert "step: back" in names
        _fits(dia)


async def test_read_only_hides_every_remedy_action(
    graph: PlaybookGraph, inventory: Inventory, runner, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    assert _parser().parse_args(["--read-only", "investigate"]).read_only
    assert _parser().parse_args(["investigate", "--read-only"]).read_only
    assert not _parser().parse_args(["investigate"]).read_only
    app = CloudtalesApp(
        graph=graph,
        inventory=inventory,
        journal_path=tmp_path / "journal.jsonl",
        runner_factory=lambda inv: runner,
        read_only=True,
    )
    async with app.run_test(size=SIZE) as pilot:
        await _investigate(app, pilot)
        await pilot.press("a")
        await _settle(app, pilot)
        dia = app.screen
        assert isinstance(dia, DiagnosisScreen)
        assert "DRY RUN - nothing has been run." in dia.plain
        assert READ_ONLY_NOTE in dia.plain
        assert not dia.query("#remedy-choice")
        assert "run_remedy" not in {r.action for r in screen_keys(dia)}
        assert not [c for c in palette_commands(dia) if c.name.startswith("remedy:")]
        calls = len(runner.calls)
        await pilot.press("r")
        await pilot.pause()
        assert app.screen is dia, "no confirmation asked: there is nothing to run"
        assert len(runner.calls) == calls
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "remedy" not in app.screen.plain.lower()


async def test_screens_fit_80x24_and_read_in_16_colours(
    graph: PlaybookGraph, inventory: Inventory, runner, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """With the ANSI theme (a 16-colour terminal) every cell uses the terminal's own
    colours: no truecolor or 256-colour value is left to be approximated."""

    def colours(app: CloudtalesApp) -> Counter[str]:
        kinds: Counter[str] = Counter()
        for strip in app.screen._compositor.render_strips():
            for seg in strip:
                if seg.style is not None:
                    for c in (seg.style.color, seg.style.bgcolor):
                        if c is not None:
                            kinds[c.type.name] += 1
        return kinds

    app = CloudtalesApp(
        graph=graph,
        inventory=inventory,
        journal_path=tmp_path / "journal.jsonl",
        runner_factory=lambda inv: runner,
        ansi=True,
    )
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "ansi-dark"
        seen: list[str] = []

        def check() -> None:
            _fits(app.screen)
            kinds = colours(app)
            assert set(kinds) <= {"DEFAULT", "STANDARD"}, (app.screen, kinds)
            seen.append(type(app.screen).__name__)

        check()
        await _investigate(app, pilot)
        await pilot.press("r")
        await _settle(app, pilot)
        check()
        await pilot.press("question_mark")
        await pilot.pause()
        check()
        await pilot.press("escape", "a")
        await _settle(app, pilot)
        check()
        await pilot.press("r")  # the remedy confirmation
        await pilot.pause()
        check()
        assert seen == [
            "SymptomPickerScreen",
            "InvestigationScreen",
            "HelpScreen",
            "DiagnosisScreen",
            "ConfirmModal",
        ]


class BlockingRunner:
    """A host that never answers: the check hangs until it is cancelled."""

    def __init__(self) -> None:
        self.killed = 0

    async def run(self, host: Host, command: str, timeout: float = 30.0) -> CommandResult:
        raise AssertionError("not used")

    async def stream_lines(
        self, host: Host, command: str, timeout: float = 60.0
    ) -> AsyncGenerator[str, None]:
        try:
            await asyncio.Event().wait()
            yield ""
        finally:
            self.killed += 1  # a real runner kills the remote process here

    async def stream_bytes(self, host, command, timeout=60.0, on_stderr=None):  # type: ignore[no-untyped-def]
        async for line in self.stream_lines(host, command, timeout):
            yield line.encode()

    async def close(self) -> None:
        pass


async def test_a_long_check_shows_progress_and_c_cancels_it(
    graph: PlaybookGraph, inventory: Inventory, tmp_path: Path
) -> None:
    blocking = BlockingRunner()
    app = CloudtalesApp(
        graph=graph,
        inventory=inventory,
        journal_path=tmp_path / "journal.jsonl",
        runner_factory=lambda inv: blocking,  # type: ignore[arg-type,return-value]
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = await _investigate(app, pilot)
        step = screen.query_one(StepPanel)
        await pilot.press("r")
        await _until(pilot, lambda: screen.running, "the check to start")
        await _until(
            pilot, lambda: "running pmtu-outside-instance" in str(step.border_subtitle), "progress"
        )
        assert "/60s" in str(step.border_subtitle)  # elapsed of the check's timeout
        assert "c cancels" in str(step.border_subtitle)
        assert screen.has_class("running")
        await pilot.press("c")
        await _settle(app, pilot)
        assert not screen.running
        assert blocking.killed == 1
        assert screen.walker.proposal().node == "pmtu-outside-instance"  # type: ignore[union-attr]
    kinds = [json.loads(x)["type"] for x in (tmp_path / "journal.jsonl").read_text().splitlines()]
    assert kinds[-2:] == ["check_started", "check_cancelled"]


def test_doctests() -> None:
    import doctest

    import tui.app
    import tui.serve

    assert doctest.testmod(tui.app).failed == 0
    assert doctest.testmod(tui.serve).failed == 0
