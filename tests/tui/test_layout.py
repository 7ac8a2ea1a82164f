"""At 80x24 (and 120x40): notices never cover a pane; below 100 columns one pane at a
time, wide enough to read a tcpdump line; z zooms; the drill's title and clock fit.
(Every screen's footer and title are checked on the snapshot tour, test_snapshots.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Footer
from textual.widgets._footer import FooterKey
from textual.widgets._header import HeaderTitle

from engine.playbook.graph import PlaybookGraph
from engine.remote.inventory import Inventory
from engine.remote.replay import ReplayRunner
from tests.tui.drive import drill_app, reach
from tui.app import CloudtalesApp
from tui.widgets.live_pane import LivePane
from tui.widgets.notice_bar import NoticeBar

SIZES = [(80, 24), (120, 40)]


def footer_keys(app: CloudtalesApp) -> list[str]:
    """The keys the footer shows, each whole and inside the screen."""
    width = app.size.width
    shown = []
    for key in app.screen.query_one(Footer).query(FooterKey):
        region = key.region
        if region.width == 0:
            continue
        assert region.right <= width, f"{key.key_display} cut at {region}"
        assert region.width >= len(key.key_display) + len(key.description)
        shown.append(key.key_display)
    return shown


def title_text(app: CloudtalesApp) -> str:
    header = app.screen.query_one(HeaderTitle)
    text = header.render()
    plain = text.plain if hasattr(text, "plain") else str(text)
    assert len(plain) <= header.region.width, f"title {plain!r} wider than {header.region}"
    return plain


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
async def test_a_drill_title_is_shortened_with_intent(
    graph: PlaybookGraph,
    inventory: Inventory,
    runner: ReplayRunner,
    tmp_path: Path,
    size: tuple[int, int],
) -> None:
    """80 columns: ``drill: Double VLAN — 00:02 · 2 steps · 0 hints · 100 pts``; from
    100 the full title. Never a cut word."""
    app = drill_app(graph, inventory, runner, tmp_path)
    async with app.run_test(size=size) as pilot:
        await reach(app, pilot, "investigation")
        app.screen._show_drill_clock()  # type: ignore[attr-defined]
        await pilot.pause()
        title = title_text(app)
        assert "…" not in title
        assert title.endswith(" pts")
        assert "2 steps · 0 hints" in title
        full = "cloudtales drill: Double VLAN"
        assert title.startswith(full if size[0] >= 100 else "drill: Double VLAN")


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
async def test_notices_never_cover_a_pane(
    graph: PlaybookGraph,
    inventory: Inventory,
    runner: ReplayRunner,
    tmp_path: Path,
    size: tuple[int, int],
) -> None:
    app = drill_app(graph, inventory, runner, tmp_path)
    async with app.run_test(size=size) as pilot:
        await reach(app, pilot, "investigation")
        for n in range(3):
            app.notify(f"notice {n}: " + "a long line that wraps " * 6, timeout=30)
        await pilot.pause()
        screen = app.screen
        bar = screen.query_one(NoticeBar)
        assert "notice 2" in bar.plain
        assert bar.region.height >= 1
        panes = [p for p in screen.query(LivePane) if p.region.width]
        assert panes
        for pane in panes:
            assert not bar.region.overlaps(pane.region), pane
        assert not [t for t in screen.query("Toast") if t.region.width]  # no toast at all
        if size[0] < 100:
            assert len(panes) == 1  # one pane at a time, under its tabs
            assert panes[0].region.width >= 50
            assert "(tab)" in str(screen.query_one("#pane-tabs").render())
        else:
            assert len(panes) == 4


async def test_z_zooms_the_pane_to_the_whole_body_and_back(
    graph: PlaybookGraph, inventory: Inventory, runner: ReplayRunner, tmp_path: Path
) -> None:
    app = drill_app(graph, inventory, runner, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await reach(app, pilot, "investigation")
        screen = app.screen
        await pilot.press("z")
        await pilot.pause()
        pane = screen.maximized
        assert isinstance(pane, LivePane)
        assert pane.region.width == 80
        await pilot.press("tab")  # the zoom follows the next pane
        await pilot.pause()
        assert screen.maximized is not pane
        await pilot.press("z")
        await pilot.pause()
        assert screen.maximized is None


async def test_no_color_is_honoured(make_app, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """NO_COLOR: greys only, and what colour said is still said by a mark or a word."""
    import re

    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.no_color
        await pilot.press(*"freeze", "enter")
        await pilot.pause()
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        svg = app.export_screenshot()
    colours = set(re.findall(r"fill: (#[0-9a-f]{6})", svg))
    assert colours
    for colour in colours:
        r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
        assert max(r, g, b) - min(r, g, b) <= 8, f"{colour} is a colour"  # a grey
    text = svg.replace("&#160;", " ")
    assert "!! " in text  # an anomaly keeps its mark without red


def test_start_up_imports_no_scapy() -> None:
    """scapy is the packet detail view's alone: importing the app does not load it."""
    import subprocess
    import sys

    code = (
        "import sys, tui.app, tui.screens.packets, tui.screens.packet_detail;"
        "print(sorted({'scapy', 'numpy'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_slash_filters_a_pane_and_the_packet_rows_and_w_wraps(
    graph: PlaybookGraph, inventory: Inventory, runner: ReplayRunner, tmp_path: Path
) -> None:
    from tui.screens.packets import PacketTablesScreen

    app = drill_app(graph, inventory, runner, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await reach(app, pilot, "investigation")
        screen = app.screen
        pane = screen.current_pane()  # type: ignore[attr-defined]
        await pilot.press("slash", *"10.0.100.5 >", "enter")
        await pilot.pause()
        shown = list(pane.log_widget.shown)
        assert shown
        assert all("10.0.100.5 >" in line for line in shown)
        assert len(shown) < len(pane.log_widget.lines)
        await pilot.press("slash", "enter")  # empty: every line again
        await pilot.pause()
        assert len(pane.log_widget.shown) == len(pane.log_widget.lines)
        await pilot.press("w")
        await pilot.pause()
        assert all(p.log_widget.wrap for p in screen.query(LivePane))
        await pilot.press("t", "slash", *"reply", "enter")
        await pilot.pause()
        packets = app.screen
        assert isinstance(packets, PacketTablesScreen)
        table = packets.current()
        assert table is not None
        rows = [table.get_row_at(n)[0].plain for n in range(table.row_count)]
        assert rows
        assert all("10.0.100.5 > 203.0.113.10" in r for r in rows)  # the replies only
