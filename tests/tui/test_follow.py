"""``cloudtales follow``: another process writes the journal while the follow screen is open.

The writer is a separate Python process driven line by line over stdin (it answers
``ok`` once the event is fsynced), so the follower sees a file that really grows
under it. The screen is polled for each expected change with a deadline.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.playbook.graph import PlaybookGraph
from tests.tui.conftest import REHEARSAL
from tui.app import FollowApp
from tui.commands import palette_commands
from tui.screens.diagnosis import READ_ONLY_NOTE, DiagnosisScreen
from tui.screens.follow import FollowScreen
from tui.widgets.decision_path import DecisionPath
from tui.widgets.facts_panel import FactsPanel
from tui.widgets.live_pane import LivePane
from tui.widgets.step_panel import StepPanel

SIZE = (80, 24)
REPO = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent(
    """
    import sys
    from engine.results import CheckResult, Evidence
    from engine.journal import Journal
    from engine.playbook.graph import load_valid_graph
    from engine.walker import Walker

    graph = load_valid_graph()
    journal = Journal(sys.argv[1])
    w = None
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "start":
            w = Walker.start(graph, "ssh-freezes-on-large-output", journal, inventory=sys.argv[2])
        elif cmd == "probe":
            w.record("check_started", node="pmtu-outside-instance", hosts=["outside"])
            w.record("live", node="pmtu-outside-instance", sources={"outside: ping sweep": {
                "lines": ["1472 bytes from 10.0.100.5: icmp_seq=1", "!! no reply  [lost]"],
                "omitted": 0}})
        elif cmd == "probed":
            w.record_result("pmtu-outside-instance",
                            CheckResult("reduced", "largest 1496", {"path_mtu": 1496}))
        elif cmd == "note":
            w.note(arg)
        elif cmd == "finish":
            w.record_result("capture-path", CheckResult(
                "stacked", "2 tags",
                {"stacks": {"20/100": 8}, "first_stacking_hop": "compute:bond0"},
                [Evidence("frames", "20/100 x8", "compute")]))
            w.record_result("links-compute", CheckResult("vlan_on_vlan", "vlan100@vlan20"))
            w.record_result("nova-vlan-interface",
                            CheckResult("is_vlan_device", "vlan20", {"vlan_interface": "vlan20"}))
        elif cmd == "back":
            w.back()
        print("ok", flush=True)
    """
)


class Writer:
    def __init__(self, journal: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(journal), str(REHEARSAL / "inventory.yaml")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )

    def do(self, command: str) -> None:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Writer]:
    w = Writer(tmp_path / "journal.jsonl")
    yield w
    w.close()


async def until(pilot, condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await pilot.pause(0.05)


def _pane_text(screen: FollowScreen) -> str:
    return "\n".join(p.text for p in screen.query(LivePane))


async def test_follow_shows_the_walk_as_the_journal_grows(
    graph: PlaybookGraph, writer: Writer, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.jsonl"
    app = FollowApp(graph, journal, poll=0.05)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, FollowScreen)
        step = screen.query_one(StepPanel)
        await until(pilot, lambda: "to start" in str(step.border_subtitle), "waiting message")

        writer.do("start")
        writer.do("probe")
        await until(pilot, lambda: "operator running" in str(step.border_subtitle), "running")
        assert "pmtu-outside-instance" in str(step.border_subtitle)
        await until(pilot, lambda: "icmp_seq=1" in _pane_text(screen), "live lines in a pane")
        pane = next(p for p in screen.query(LivePane) if p.source)
        assert pane.source == "outside: ping sweep"
        assert "!! no reply" in pane.text

        writer.do("probed")
        path = screen.query_one(DecisionPath)
        await until(pilot, lambda: "-> reduced" in path.plain, "the result in the path")
        assert "> 2. capture-path" in path.plain
        facts = screen.query_one(FactsPanel)
        assert "pmtu-outside-instance.path_mtu = 1496" in facts.plain
        assert "waiting for the operator" in str(step.border_subtitle)

        writer.do("note customer says it started Monday")
        await until(pilot, lambda: "started Monday" in facts.plain, "the note in the facts")

        writer.do("finish")
        await until(pilot, lambda: isinstance(app.screen, DiagnosisScreen), "the diagnosis")
        dia = app.screen
        assert isinstance(dia, DiagnosisScreen)
        assert dia.read_only
        assert "vlan-on-vlan" in dia.plain
        assert READ_ONLY_NOTE in dia.plain
        assert not dia.query("#remedy-choice")
        assert "run_remedy" not in {b.binding.action for b in dia.active_bindings.values()}

        writer.do("back")  # the operator is not convinced: the follower follows
        await until(pilot, lambda: app.screen is screen, "the diagnosis closed")
        assert "> 4. nova-vlan-interface" in screen.query_one(DecisionPath).plain


async def test_a_follower_cannot_run_anything(
    graph: PlaybookGraph, writer: Writer, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.jsonl"
    writer.do("start")
    app = FollowApp(graph, journal, poll=0.05)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, FollowScreen)
        path = screen.query_one(DecisionPath)
        await until(pilot, lambda: "pmtu-outside-instance" in path.plain, "the first step")
        before = journal.read_bytes()
        for key in ("r", "enter", "a", "s", "b", "f", "n", "p", "c", "x"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is screen, f"{key} opened {app.screen}"
        assert journal.read_bytes() == before, "a follower's key changed the journal"
        names = [c.name for c in palette_commands(screen)]
        assert "view: diagnosis" in names
        assert not [n for n in names if n.split(":")[0] in ("step", "journal", "remedy", "pane")]


async def test_follow_fits_80x24(graph: PlaybookGraph, writer: Writer, tmp_path: Path) -> None:
    writer.do("start")
    writer.do("probe")
    app = FollowApp(graph, tmp_path / "journal.jsonl", poll=0.05)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await until(pilot, lambda: "icmp_seq" in _pane_text(screen), "live lines")  # type: ignore[arg-type]
        shown = [p for p in screen.query(LivePane) if p.region.width]  # one at a time
        assert len(shown) == 1
        assert shown[0].region.width >= 50  # readable: not a quarter of 54 columns
        for widget in (screen.query_one("#path"), screen.query_one("#step"), *shown):
            region = widget.region
            assert region.width >= 20, widget
            assert region.height >= 4, widget
            assert region.right <= SIZE[0], widget
            assert region.bottom <= SIZE[1] - 1, widget  # the footer keeps the last row
