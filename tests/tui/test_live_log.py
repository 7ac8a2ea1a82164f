"""LiveLog's own frame painting (``render_lines``) and LivePane's kept frame.

What the screen shows is read from ``export_screenshot`` or from the strips the
compositor asks for (``render_lines``), compared with the row-by-row ``render_line``."""

from __future__ import annotations

import html
import re

from textual.app import App, ComposeResult
from textual.geometry import Region

from engine.checks.base import LiveLine
from tui.widgets.frame_clock import FlushClock
from tui.widgets.live_log import LiveLog
from tui.widgets.live_pane import LivePane
from tui.widgets.live_text import clean_lines


class PaneApp(App[None]):
    CSS = "LivePane { width: 40; height: 12; border: round white; } LiveLog { height: 1fr; }"

    def compose(self) -> ComposeResult:
        yield LivePane("pane 1", id="pane-1")

    @property
    def pane(self) -> LivePane:
        return self.query_one(LivePane)


def frame_rows(log: LiveLog) -> list[str]:
    """The rows the compositor gets for the whole widget, trailing blanks stripped."""
    return [strip.text.rstrip() for strip in log.render_lines(Region(0, 0, *log.size))]


def screen_text(app: App[None]) -> str:
    """The characters of the screen as exported (an SVG), spaces as spaces."""
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", app.export_screenshot())
    return html.unescape("".join(texts)).replace("\xa0", " ")


def line(text: str, anomaly: str | None = None) -> LiveLine:
    return LiveLine("compute: tcpdump", text, anomaly)


async def test_a_frame_shows_the_same_rows_as_row_by_row_rendering() -> None:
    app = PaneApp()
    async with app.run_test() as pilot:
        pane = app.pane
        for i in range(30):
            pane.push(line(f"packet {i} " + "p" * i, "oversize" if i % 3 == 0 else None))
        pane.flush(final=True)
        await pilot.pause()
        log = pane.log_widget
        text_rows = log.scrollable_content_region.height
        by_row = [log.render_line(y).text.rstrip() for y in range(text_rows)]
        frame = frame_rows(log)
        assert frame[:text_rows] == by_row
        assert frame[text_rows - 1].startswith("packet 29 ")  # follows the end
        assert frame[text_rows:] == [""] * (log.size.height - text_rows)  # under the bar
        # rows are as wide as the text area: the scrollbar's column is not painted twice
        strips = log.render_lines(Region(0, 0, *log.size))
        assert {s.cell_length for s in strips} == {log.scrollable_content_region.width}
        anomaly_row = next(s for s in strips if s.text.startswith("!! packet 27"))
        assert all(seg.style is not None and seg.style.bold for seg in anomaly_row)


async def test_a_scrolled_up_pane_keeps_its_rows_while_lines_arrive() -> None:
    app = PaneApp()
    async with app.run_test() as pilot:
        pane = app.pane
        log = pane.log_widget
        log.write_lines([f"old {i}" for i in range(40)])
        await pilot.pause()
        log.scroll_to(y=0, animate=False, immediate=True)
        await pilot.pause()
        log.write_lines([f"new {i}" for i in range(5)])
        await pilot.pause()
        assert frame_rows(log)[0] == "old 0"
        assert log.scroll_offset.y == 0
        assert log.virtual_size.height == 45
        assert log.vertical_scrollbar.window_virtual_size == 45  # the bar shows the new size


async def test_the_scrollbars_follow_the_line_count_without_a_layout_pass() -> None:
    app = PaneApp()
    async with app.run_test() as pilot:
        log = app.pane.log_widget
        log.write_lines(["a"] * 3)
        await pilot.pause()
        log.write_lines(["b" * 100] * 50)
        assert log.virtual_size.height == 53  # at once, not after a screen layout
        assert log.vertical_scrollbar.window_virtual_size == 53
        assert log.horizontal_scrollbar.window_virtual_size == 100
        assert log.scroll_offset.y == log.max_scroll_y  # followed the end
        await pilot.pause()
        assert frame_rows(log)[log.scrollable_content_region.height - 1] == "b" * (
            log.scrollable_content_region.width
        )


async def test_the_pane_border_repaints_when_counts_or_styles_change() -> None:
    app = PaneApp()
    async with app.run_test(size=(60, 16)) as pilot:
        pane = app.pane
        pane.attach("compute: tcpdump")
        pane.push(line("one"))
        pane.flush(final=True)
        await pilot.pause()
        assert "1 lines, 0 dropped" in screen_text(app)
        pane.push(line("two"))
        pane.push(line("three", "2 VLAN tags"))
        pane.flush(final=True)
        await pilot.pause()
        assert "3 lines, 0 dropped, 1 !!" in screen_text(app)
        assert "╭" in screen_text(app)
        pane.styles.border = ("double", "red")
        await pilot.pause()
        assert "╭" not in screen_text(app)
        assert "╔" in screen_text(app)


async def test_a_boxed_log_is_painted_by_the_styles_pass() -> None:
    class Boxed(App[None]):
        CSS = "LiveLog { width: 30; height: 8; padding: 0 2; border: solid green; }"

        def compose(self) -> ComposeResult:
            yield LiveLog()

    app = Boxed()
    async with app.run_test() as pilot:
        log = app.query_one(LiveLog)
        log.write_lines(["boxed text"])
        await pilot.pause()
        rows = [s.text for s in log.render_lines(Region(0, 0, *log.outer_size))]
        assert rows[1].startswith("│  boxed text")  # border, then padding, then the line


def test_clean_lines_takes_the_fast_path_only_for_clean_text() -> None:
    clean = ["tcpdump: 1522 bytes", "ünïcödé ok"]
    assert clean_lines(clean) is clean  # printable, not copied
    assert clean_lines(["esc\x1b[0m", "del\x7f"]) == ["esc\ufffd[0m", "del\ufffd"]
    assert clean_lines(["wide\u200b\x00"]) == ["wide\u200b\ufffd"]


async def test_the_frame_clock_paints_the_panes_in_its_tick() -> None:
    app = PaneApp()
    async with app.run_test() as pilot:
        pane = app.pane
        clock = FlushClock.of(app)
        pane.push(line("painted by the clock"))
        before = clock.painted
        clock.tick()
        assert clock.painting  # this Textual has what the early paint needs
        assert clock.painted == before + 1
        assert not pane.log_widget._repaint_required  # claimed: no second frame for it
        await pilot.pause()
        assert "painted by the clock" in screen_text(app)


async def test_without_the_early_paint_textual_paints_the_panes() -> None:
    app = PaneApp()
    async with app.run_test() as pilot:
        clock = FlushClock.of(app)
        clock.painting = False  # a Textual without the internals
        painted = clock.painted
        app.pane.push(line("painted by Textual's timer"))
        clock.tick()
        await pilot.pause()
        assert clock.painted == painted
        assert "painted by Textual's timer" in screen_text(app)
