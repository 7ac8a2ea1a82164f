"""The apps ``bench_panes.py`` runs inside tmux: the real LivePane fed at a fixed rate.

``grid``: a 2x2 grid of ``tui.widgets.live_pane.LivePane`` styled by ``tui/app.tcss``, a
status line updated on every ``PaneFlushed``, as the investigation screen does.

``investigation``: the real app (``CloudtalesApp``) on the real investigation screen,
started on the recorded Double VLAN session (tests/rehearsals/double-vlan-faulty), with
a check running: a worker in the screen's ``check`` group whose lines go through the
screen's own ``route`` (a check's ``emit``), so the panes are picked, attached and
counted, the progress line and pane tabs are updated and the live sample is journalled
as in an incident.

Both: one producer per pane every 10 ms pushes the lines due by then for the rate, from
a pool of ~110-character tcpdump-style lines, 1 in 100 flagged as an anomaly (``--producer
thread``: one OS thread per pane, grid only). A label at the top shows ``KEY#NNNN#``; ``x``
increments it (a layout pass, as most keys cause), ``z`` writes the stats and quits.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import tui  # noqa: F401 - first: the product's Textual settings (TEXTUAL_FPS)

ROOT = Path(__file__).resolve().parent.parent
PANES = 4
POOL = 4096
MARK = "KEY#{:04d}#"
REHEARSAL = ROOT / "tests" / "rehearsals" / "double-vlan-faulty"


def line_pool(pane: int) -> list[Any]:
    from engine.checks.base import LiveLine

    src = f"compute:tcpdump bond{pane}"
    out = []
    for i in range(POOL):
        text = (
            f"14:{i // 60 % 60:02d}:{i % 60:02d}.{(i * 7919) % 1000000:06d} bond{pane} "
            f"vlan 20, vlan 100, IP 10.0.100.4 > 10.0.100.5: ICMP echo request, "
            f"seq {i}, length {1000 + i % 500}"
        )
        anomaly = "2 VLAN tags, 1522 > 1518" if i % 100 == 0 else None
        out.append(LiveLine(src, text, anomaly))
    return out


async def feed(push: Any, pool: list[Any], rate: int) -> None:
    """Every 10 ms, ``push`` the lines due by then at ``rate`` lines/s."""
    t0, sent = time.monotonic(), 0
    while True:
        await asyncio.sleep(0.01)
        due = int((time.monotonic() - t0) * rate)
        for k in range(sent, due):
            push(pool[k % POOL])
        sent = due


def feed_thread(push: Any, pool: list[Any], rate: int, stop: threading.Event) -> None:
    t0, sent = time.monotonic(), 0
    while not stop.wait(0.01):
        due = int((time.monotonic() - t0) * rate)
        for k in range(sent, due):
            push(pool[k % POOL])
        sent = due


class KeyTrace:
    """When each press was handled and when the frame showing it was handed to the
    terminal (``time.perf_counter``, the same clock as the driver's)."""

    def __init__(self) -> None:
        self.handled: list[float] = []
        self.written: list[float] = []
        self._waiting = False

    def pressed(self) -> None:
        self.handled.append(time.perf_counter())
        self._waiting = True

    def displayed(self) -> None:
        if self._waiting:
            self.written.append(time.perf_counter())
            self._waiting = False


def stats(app: Any, panes: list[Any], started: float, flushes: int) -> dict[str, Any]:
    from tui.widgets.frame_clock import FlushClock

    return {
        "handled": app.trace.handled,
        "written": app.trace.written,
        "seconds": time.monotonic() - started,
        "lines": [p.lines for p in panes],
        "dropped": [p.dropped for p in panes],
        "log_lines": [p.log_widget.line_count for p in panes],
        "flush_events": flushes,
        "presses": app.presses,
        "tick_gaps": list(FlushClock.of(app).gaps)[30:],  # after the start-up
    }


def run_grid(rate: int, producer: str, out: str, fed: int = PANES) -> None:
    from textual import on
    from textual.app import App, ComposeResult
    from textual.containers import Grid
    from textual.widgets import Label, Static

    from tui.messages import PaneFlushed
    from tui.widgets.live_pane import LivePane

    class PaneBenchApp(App[None]):
        CSS_PATH = str(ROOT / "tui" / "app.tcss")
        BINDINGS = [("x", "press", "press"), ("z", "bench_quit", "quit")]
        CSS = "#keys, #feed { height: 1; width: 100%; }"

        def __init__(self) -> None:
            super().__init__()
            self.presses = self.flushes = 0
            self.started = 0.0
            self.stopping = threading.Event()
            self.trace = KeyTrace()

        def _display(self, screen: Any, renderable: Any) -> None:
            super()._display(screen, renderable)
            self.trace.displayed()

        def compose(self) -> ComposeResult:
            yield Label(MARK.format(0), id="keys")
            yield Static("feed: idle", id="feed")
            with Grid(id="panes"):
                for i in range(1, PANES + 1):
                    yield LivePane(f"pane {i}", id=f"pane-{i}")

        def on_mount(self) -> None:
            self.started = time.monotonic()
            for i, pane in enumerate(self.query(LivePane)):
                pane.attach(f"compute:tcpdump bond{i}")
                if not rate or i >= fed:
                    continue
                pool = line_pool(i)
                if producer == "thread":
                    args = (pane.push, pool, rate, self.stopping)
                    threading.Thread(target=feed_thread, args=args, daemon=True).start()
                else:
                    self.run_worker(feed(pane.push, pool, rate), group="feed")

        def action_press(self) -> None:
            self.trace.pressed()
            self.presses += 1
            self.query_one("#keys", Label).update(MARK.format(self.presses))

        @on(PaneFlushed)
        def _flushed(self, event: PaneFlushed) -> None:
            self.flushes += 1
            panes = list(self.query(LivePane))
            total = sum(p.lines for p in panes)
            alerts = sum(p.anomalies for p in panes)
            # the investigation screen shows this in a border subtitle, which repaints
            # without a layout pass; a one-row Static of fixed size needs none either
            self.query_one("#feed", Static).update(
                f"feed: {total} live lines, {alerts} !! ({event.last_anomaly})", layout=False
            )

        def action_bench_quit(self) -> None:
            self.stopping.set()
            panes = list(self.query(LivePane))
            Path(out).write_text(json.dumps(stats(self, panes, self.started, self.flushes)))
            self.exit()

    PaneBenchApp().run()


def run_investigation(rate: int, out: str, fed: int = PANES) -> None:
    import yaml
    from textual import on
    from textual.binding import Binding
    from textual.widgets import Label

    from engine.playbook.graph import load_valid_graph
    from engine.remote.inventory import load_inventory
    from engine.remote.replay import ReplayRunner, load_recordings
    from engine.session import Session
    from tui.app import CloudtalesApp
    from tui.messages import PaneFlushed
    from tui.screens.investigation import InvestigationScreen

    graph = load_valid_graph()
    inventory = load_inventory(REHEARSAL / "inventory.yaml")
    recordings = yaml.safe_load((REHEARSAL / "recordings.yaml").read_text())
    runner = ReplayRunner(load_recordings(recordings, REHEARSAL))
    journal = Path(tempfile.mkdtemp(prefix="bench-panes-")) / "journal.jsonl"
    symptom = "ssh-freezes-on-large-output"
    session = Session.start(graph, inventory, runner, symptom, journal)

    class InvestigationBenchApp(CloudtalesApp):
        BINDINGS = [
            Binding("x", "press", "press", priority=True),  # the screen's x closes a pane
            Binding("z", "bench_quit", "quit", priority=True),
        ]
        CSS_PATH = str(ROOT / "tui" / "app.tcss")  # a relative one is read from bench/
        CSS = "#keys { height: 1; width: 100%; }"

        def __init__(self) -> None:
            super().__init__(graph, inventory, session=session, journal_path=journal)
            self.presses = self.flushes = 0
            self.started = 0.0
            self.trace = KeyTrace()

        def _display(self, screen: Any, renderable: Any) -> None:
            super()._display(screen, renderable)
            self.trace.displayed()

        def on_mount(self) -> None:
            super().on_mount()  # pushes the investigation screen
            self.call_after_refresh(self._start_check)

        @property
        def investigation(self) -> InvestigationScreen:
            screen = self.screen
            assert isinstance(screen, InvestigationScreen), screen
            return screen

        def _start_check(self) -> None:
            screen = self.investigation
            screen.mount(Label(MARK.format(0), id="keys"), before=0)
            self.started = time.monotonic()
            if rate:
                pools = [line_pool(i) for i in range(fed)]
                worker = screen.run_worker(self._check(screen, pools), group="check")
                screen._check = worker  # shown as the running check (progress line)

        async def _check(self, screen: InvestigationScreen, pools: list[list[Any]]) -> None:
            await asyncio.gather(*(feed(screen.route, pool, rate) for pool in pools))

        def action_press(self) -> None:
            self.trace.pressed()
            self.presses += 1
            self.investigation.query_one("#keys", Label).update(MARK.format(self.presses))

        @on(PaneFlushed)
        def _counted(self, event: PaneFlushed) -> None:
            self.flushes += 1

        def action_bench_quit(self) -> None:
            panes = self.investigation.panes
            Path(out).write_text(json.dumps(stats(self, panes, self.started, self.flushes)))
            self.exit()

    InvestigationBenchApp().run()
