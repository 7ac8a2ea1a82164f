"""LivePane and LiveLog: batching, drops, wrapping, the ``/`` filter, clean lines.

Each test runs a real Textual app headless (Pilot) and reads what the widget renders
row by row (``render_line``), the way the compositor asks for it."""

from __future__ import annotations

from textual.app import App, ComposeResult

from engine.checks.base import LiveLine
from tui.widgets.frame_clock import FlushClock
from tui.widgets.live_log import LiveLog
from tui.widgets.live_pane import LivePane
from tui.widgets.live_text import clean_lines

LONG = "x" * 50 + "TAIL"  # 54 cells


class PaneApp(App[None]):
    CSS = "LivePane { width: 30; height: 12; } LiveLog { height: 1fr; }"

    def __init__(self, buffer: int = 20000, max_lines: int = 5000) -> None:
        super().__init__()
        self.buffer = buffer
        self.max_lines = max_lines

    def compose(self) -> ComposeResult:
        yield LivePane("pane 1", id="pane-1", buffer=self.buffer, max_lines=self.max_lines)

    @property
    def pane(self) -> LivePane:
        return self.query_one(LivePane)


def rows(log: LiveLog) -> list[str]:
    """The text of every row the widget shows now (trailing blanks stripped)."""
    return [log.render_line(y).text.rstrip() for y in range(log.size.height)]


def line(text: str, anomaly: str | None = None) -> LiveLine:
    return LiveLine("compute: tcpdump", text, anomaly)


async def test_a_flush_writes_the_batch_and_marks_anomalies() -> None:
    app = PaneApp()
    async with app.run_test() as pilot:
        pane = app.pane
        pane.attach("compute: tcpdump")
        pane.push(line("ping 1"))
        pane.push(line("ping 2", anomaly="2 VLAN tags"))
        assert pane.log_widget.lines == []  # nothing reaches the log before a flush
        pane.flush(final=True)
        await pilot.pause()
        assert list(pane.log_widget.lines) == ["ping 1", "!! ping 2  [2 VLAN tags]"]
        assert rows(pane.log_widget)[:2] == ["ping 1", "!! ping 2  [2 VLAN tags]"]
        strip = pane.log_widget.render_line(1)
        assert any(seg.style is not None and seg.style.bold for seg in strip)
        assert str(pane.border_subtitle) == "2 lines, 0 dropped, 1 !!"


async def test_the_app_clock_flushes_every_mounted_pane() -> None:
    app = PaneApp()
    async with app.run_test() as pilot:
        pane = app.pane
        clock = FlushClock.of(app)
        assert list(clock.panes.values()) == [pane]
        pane.push(line("from the clock"))
        clock.tick()
        await pilot.pause()
        assert list(pane.log_widget.lines) == ["from the clock"]
        await pane.remove()
        assert clock.panes == {}


async def test_a_full_buffer_drops_the_oldest_lines_and_counts_them() -> None:
    app = PaneApp(buffer=100)
    async with app.run_test() as pilot:
        pane = app.pane
        for i in range(250):
            pane.push(line(f"line {i}"))
        pane.flush(final=True)
        await pilot.pause()
        assert (pane.lines, pane.dropped) == (250, 150)
        assert pane.log_widget.lines[0] == "line 150"
        assert pane.log_widget.lines[-1] == "line 249"
        assert str(pane.border_subtitle) == "250 lines, 150 dropped"


async def test_the_log_keeps_only_max_lines_and_follows_the_end() -> None:
    app = PaneApp(max_lines=20)
    async with app.run_test() as pilot:
        log = app.pane.log_widget
        for start in range(0, 100, 10):
            log.write_lines([f"l{i}" for i in range(start, start + 10)])
        await pilot.pause()
        assert list(log.lines) == [f"l{i}" for i in range(80, 100)]
        shown = [r for r in rows(log) if r]
        assert shown[-1] == "l99"
        assert shown == [f"l{i}" for i in range(100 - len(shown), 100)]


async def test_set_filter_shows_only_matching_lines_and_filters_later_ones() -> None:
    app = PaneApp()
    async with app.run_test() as pilot:
        pane = app.pane
        for text in ("ARP who-has 10.0.0.1", "ICMP echo 10.0.0.2", "arp reply 10.0.0.1"):
            pane.push(line(text))
        pane.flush(final=True)
        pane.set_filter("arp")
        await pilot.pause()
        log = pane.log_widget
        assert pane.filter == "arp"
        assert [r for r in rows(log) if r] == ["ARP who-has 10.0.0.1", "arp reply 10.0.0.1"]
        assert str(pane.border_subtitle).startswith("/arp: 2 of 3 kept; 3 lines")
        pane.push(line("ICMP echo 10.0.0.3"))
        pane.push(line("arp who-has 10.0.0.9"))
        pane.flush(final=True)
        await pilot.pause()
        assert [r for r in rows(log) if r][-1] == "arp who-has 10.0.0.9"
        assert len(log.shown) == 3
        assert len(log.lines) == 5  # every line is kept; followers sample them all
        pane.set_filter(None)
        await pilot.pause()
        assert pane.filter is None
        assert [r for r in rows(log) if r] == list(log.lines)


async def test_set_wrap_folds_long_lines_and_back_to_sideways_scrolling() -> None:
    app = PaneApp()
    async with app.run_test() as pilot:
        pane = app.pane
        log = pane.log_widget
        pane.push(line("short"))
        pane.push(line(LONG))
        pane.flush(final=True)
        await pilot.pause()
        assert not pane.wrap
        assert log.virtual_size.width == len(LONG)
        width = log.scrollable_content_region.width  # the text area, left of the scrollbar
        assert [r for r in rows(log) if r][1] == LONG[:width]

        pane.set_wrap(True)
        await pilot.pause()
        assert pane.wrap
        folded = [r for r in rows(log) if r]
        assert folded[0] == "short"
        assert "".join(folded[1:]) == LONG
        assert all(len(r) <= width for r in folded)
        assert log.virtual_size.height == 1 + -(-len(LONG) // width)
        assert log.virtual_size.width == width  # nothing to scroll sideways

        pane.set_wrap(False)
        await pilot.pause()
        assert [r for r in rows(log) if r] == ["short", LONG[:width]]
        assert log.virtual_size.width == len(LONG)


async def test_wrapped_rows_follow_new_lines_and_pruning() -> None:
    app = PaneApp(max_lines=3)
    async with app.run_test() as pilot:
        log = app.pane.log_widget
        log.set_wrap(True)
        width = log.scrollable_content_region.width
        for i in range(6):
            log.write_lines([f"{i}:" + "y" * (width + 2)])  # two rows each
        await pilot.pause()
        assert log.virtual_size.height == 6
        shown = "".join(r for r in rows(log) if r)
        assert shown == "".join(f"{i}:" + "y" * (width + 2) for i in range(3, 6))


async def test_clear_forgets_lines_filter_stays() -> None:
    app = PaneApp()
    async with app.run_test() as pilot:
        pane = app.pane
        pane.set_filter("keep")
        pane.push(line("keep me"))
        pane.flush(final=True)
        pane.attach("controller: tcpdump")  # a new source clears the pane
        await pilot.pause()
        assert list(pane.log_widget.lines) == []
        assert list(pane.log_widget.shown) == []
        pane.push(line("keep this too"))
        pane.push(line("drop this"))
        pane.flush(final=True)
        await pilot.pause()
        assert [r for r in rows(pane.log_widget) if r] == ["keep this too"]


def test_clean_lines_splits_breaks_and_hides_control_codes() -> None:
    batch = ["plain", "a\tb", "two\nlines", "bell\x07", "esc\x1b[31m"]
    assert clean_lines(batch) == [
        "plain",
        "a       b",
        "two",
        "lines",
        "bell\ufffd",
        "esc\ufffd[31m",
    ]
    printable = ["one", "two"]
    assert clean_lines(printable) is printable  # the usual batch is not copied


async def test_the_screen_shows_new_lines_after_the_log_is_full() -> None:
    """Textual's Log stopped repainting once max_lines was reached (its refresh region
    was computed before pruning); the pane must keep showing the newest line."""
    app = PaneApp(max_lines=50)
    async with app.run_test(size=(40, 14)) as pilot:
        pane = app.pane
        for batch in range(5):
            for i in range(30):
                pane.push(line(f"batch{batch}-line{i}"))
            pane.flush(final=True)
            await pilot.pause()
            assert f"batch{batch}-line29" in app.export_screenshot()
