"""Every key a screen lists in ``?`` does something there; every key operators try
from htop, less, lazygit and k9s (``KNOWN_KEYS``) is listed or says why it is not
there; q, esc and ctrl+c leave as those tools do. At 80x24, over the recorded lab."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.screen import Screen

from engine.journal import read_events
from engine.playbook.graph import PlaybookGraph
from engine.remote.inventory import Inventory
from engine.remote.replay import ReplayRunner
from tests.tui.drive import drill_app, reach, settle, steps
from tui.app import CloudtalesApp
from tui.screens.diagnosis import DiagnosisScreen
from tui.screens.follow import FollowScreen
from tui.screens.help import KNOWN_KEYS, HelpScreen, not_here, screen_keys
from tui.screens.investigation import InvestigationScreen
from tui.screens.modals import NoteModal, YesNoModal
from tui.screens.packet_detail import PacketDetailScreen
from tui.screens.packets import PacketTablesScreen
from tui.screens.score_card import ScoreCardScreen
from tui.screens.symptom_picker import SymptomPickerScreen
from tui.widgets.live_pane import LivePane
from tui.widgets.notice_bar import NoticeBar

SIZE = (80, 24)
LEAVING = {"q", "escape", "ctrl+q"}  # tested last, or on their own
Reopen = Callable[[], Awaitable[Screen[Any]]]


def signature(app: CloudtalesApp) -> tuple[object, ...]:
    """What a key can change that the operator sees or the journal keeps."""
    screen = app.screen
    panes = tuple((p.source, p.lines, p.region) for p in screen.query(LivePane))
    events = len(app.session.walker.events) if getattr(app, "session", None) else 0
    return (
        tuple(id(s) for s in app.screen_stack),
        id(screen.focused),
        screen.maximized,
        app.notices_sent,  # every notice, shown in a bar or (over a dialog) as a toast
        panes,
        events,
        getattr(screen, "wrap", None),
        getattr(screen, "page", None),
        getattr(screen, "hex_view", None),
        app._exit,
    )


def keys_of(screen: Screen[Any]) -> list[str]:
    listed = [name for row in screen_keys(screen) for name in row.names]
    return list(dict.fromkeys(listed))


def assert_complete(screen: Screen[Any]) -> None:
    """No known key is missing from both the ``?`` list and the not-here list."""
    listed = set(keys_of(screen))
    missing = not_here(screen)
    lost = [k for k in KNOWN_KEYS if k not in listed and k not in missing]
    assert not lost, f"{type(screen).__name__}: {lost} neither listed nor explained"
    help_text = HelpScreen(screen).plain
    for key in missing:
        assert f"not here: {key}:" in help_text


async def walk_keys(
    app: CloudtalesApp, pilot: Any, reopen: Reopen, skip: frozenset[str] = frozenset()
) -> list[str]:
    """Press each listed key of the current screen; come back to it after each."""
    target = app.screen
    assert_complete(target)
    pressed = []
    for key in keys_of(target):
        if key in LEAVING or key in skip or key == "ctrl+p":
            continue
        before = signature(app)
        await pilot.press(key)
        await settle(app, pilot)
        assert signature(app) != before, f"{type(target).__name__}: {key} did nothing"
        pressed.append(key)
        while target in app.screen_stack and app.screen is not target:
            app.pop_screen()
            await pilot.pause()
        if app.screen is not target:
            target = await reopen()
    return pressed


async def test_every_listed_key_acts_on_every_screen(
    graph: PlaybookGraph, inventory: Inventory, runner: ReplayRunner, tmp_path: Path
) -> None:
    app = drill_app(graph, inventory, runner, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await steps(app, pilot)
        inv = app.screen
        assert isinstance(inv, InvestigationScreen)

        async def to_inv() -> Screen[Any]:
            while app.screen is not inv:
                app.pop_screen()
                await pilot.pause()
            return inv

        async def to_packets() -> Screen[Any]:
            await to_inv()
            await pilot.press("t")
            await pilot.pause()
            assert isinstance(app.screen, PacketTablesScreen)
            return app.screen

        async def to_detail() -> Screen[Any]:
            if not isinstance(app.screen, PacketTablesScreen):
                await to_packets()
            await pilot.press("enter")
            await settle(app, pilot)
            assert isinstance(app.screen, PacketDetailScreen)
            return app.screen

        # the sub-screens first, each left by q and by esc
        for reopen, cls in ((to_packets, PacketTablesScreen), (to_detail, PacketDetailScreen)):
            await reopen()
            assert isinstance(app.screen, cls)
            await walk_keys(app, pilot, reopen)
            for key in ("escape", "q"):
                here = app.screen
                await pilot.press(key)
                await pilot.pause()
                assert here not in app.screen_stack, f"{cls.__name__}: {key} did not back out"
                await reopen()
            await to_inv()

        # the help over the investigation: any of ? esc q closes it
        for key in ("question_mark", "escape", "q"):
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            if key == "escape":
                assert_complete(app.screen)
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is inv

        pressed = await walk_keys(app, pilot, to_inv, skip=frozenset({"a", "b", "s"}))
        assert {"r", "t", "z", "w", "slash", "tab", "h", "x", "c"} <= set(pressed)
        if inv.maximized is not None:  # z zoomed a pane: esc (or z) gives the grid back
            await pilot.press("escape")
            await pilot.pause()
            assert inv.maximized is None
        await pilot.press("escape")  # the main screen: esc cancels (nothing runs: it says so)
        await pilot.pause()
        assert app.screen is inv
        assert "nothing is running" in inv.query_one(NoticeBar).plain

        # to the diagnosis: the drill's score card first
        await pilot.press("a")
        await settle(app, pilot)
        drill = app.drill
        assert drill is not None
        assert drill.card is not None  # an r above reached the diagnosis: scored then
        card = ScoreCardScreen(drill.card, drill.past(), packets=inv.open_packets)
        app.push_screen(card)
        await pilot.pause()

        async def to_card() -> Screen[Any]:
            await to_inv()
            app.push_screen(card)
            await pilot.pause()
            return card

        await walk_keys(app, pilot, to_card)
        await pilot.press("q")  # q backs out of the card (to what is under it)
        await pilot.pause()
        assert card not in app.screen_stack

        async def to_dia() -> Screen[Any]:
            await to_inv()
            if not inv.walker.done:  # b stepped back: run the step again
                await pilot.press("r")
                await settle(app, pilot)
            if app.screen is inv:
                await pilot.press("d")
                await pilot.pause()
            assert isinstance(app.screen, DiagnosisScreen)
            return app.screen

        await walk_keys(app, pilot, to_dia)
        for key in ("escape", "q"):
            await to_dia()
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is inv
        # the drill is scored: q quits without asking
        await pilot.press("q")
        await pilot.pause()
        assert app._exit


async def test_q_on_a_drill_in_progress_asks_first(
    graph: PlaybookGraph, inventory: Inventory, runner: ReplayRunner, tmp_path: Path
) -> None:
    app = drill_app(graph, inventory, runner, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        inv = app.screen
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, YesNoModal)
        assert "quit the drill? (y/n)" in str(app.screen.query_one(".modal-body").render())
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is inv
        assert not app._exit
        await pilot.press("q", "y")
        await pilot.pause()
        assert app._exit


async def test_ctrl_c_quits_and_keeps_a_half_written_note(
    graph: PlaybookGraph, inventory: Inventory, runner: ReplayRunner, tmp_path: Path
) -> None:
    app = drill_app(graph, inventory, runner, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, NoteModal)
        await pilot.press(*"bond0 flaps")
        await pilot.press("ctrl+c")  # nothing selected in the input: quit
        await pilot.pause()
        assert app._exit
    notes = [e.data["text"] for e in read_events(tmp_path / "journal.jsonl") if e.type == "note"]
    assert notes == ["(unfinished when cloudtales quit) bond0 flaps"]


async def test_ctrl_c_quits_from_a_sub_screen(
    graph: PlaybookGraph, inventory: Inventory, runner: ReplayRunner, tmp_path: Path
) -> None:
    app = drill_app(graph, inventory, runner, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await reach(app, pilot, "packet-detail")
        assert isinstance(app.screen, PacketDetailScreen)
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app._exit


async def test_picker_keys_then_q_quits(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        picker = app.screen
        assert isinstance(picker, SymptomPickerScreen)

        async def back() -> Screen[Any]:
            return picker

        assert_complete(picker)
        for key in ("slash", "escape"):  # / into the filter, esc back to the list
            before = signature(app)
            await pilot.press(key)
            await pilot.pause()
            assert signature(app) != before, key
        assert picker.focused is picker.query_one("#symptoms")
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
        assert app._exit


async def test_follow_keys(
    graph: PlaybookGraph, inventory: Inventory, runner: ReplayRunner, tmp_path: Path
) -> None:
    """A follower of the recorded walk: every key it lists acts; q stops following."""
    from tui.app import FollowApp

    app = drill_app(graph, inventory, runner, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await steps(app, pilot)
    follower = FollowApp(graph, tmp_path / "journal.jsonl", poll=0.05)
    async with follower.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        screen = follower.screen
        assert isinstance(screen, FollowScreen)

        async def back() -> Screen[Any]:
            while follower.screen is not screen:
                follower.pop_screen()
                await pilot.pause()
            return screen

        await walk_keys(follower, pilot, back)  # type: ignore[arg-type]
        await pilot.press("t")  # the journalled table keeps each frame's first bytes
        await pilot.pause()
        assert isinstance(follower.screen, PacketTablesScreen)
        table = follower.screen.current()
        assert table is not None
        assert table.rendered is not None
        assert any(cell for row in table.rendered.frames for cell in row)
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
        assert follower._exit
