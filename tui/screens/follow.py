"""``cloudtales follow JOURNAL``: another engineer's investigation, live and read-only.

The same layout as the investigation screen (decision path, facts and evidence,
the current step, four live panes) rebuilt from the journal the operator is
writing. A timer polls the file's size and reads only the new bytes
(``engine.journal_follow``); the panes show the live lines the operator's screen
journalled. There is nothing to run here: no step, skip, back, fact, note or remedy
binding, and the diagnosis screen shows the remedies as dry runs only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static

from engine.checks.base import LiveLine
from engine.errors import CloudtalesError
from engine.executor import hosts_for
from engine.journal_follow import Follower
from engine.playbook.graph import PlaybookGraph
from engine.remote.inventory import Inventory, load_inventory
from engine.resume_state import restore
from engine.walker import Walker
from tui.screens.diagnosis import DiagnosisScreen
from tui.screens.help import elsewhere
from tui.screens.packets import PacketTablesScreen
from tui.widgets.decision_path import DecisionPath
from tui.widgets.facts_panel import FactsPanel
from tui.widgets.live_pane import LivePane
from tui.widgets.step_panel import StepPanel
from tui.widgets.walk_layout import WalkScreen, walk_layout

POLL_SECONDS = 0.25


@dataclass
class FollowView:
    """What the diagnosis screen reads, for a follower (no runner, no journal)."""

    graph: PlaybookGraph
    inventory: Inventory
    walker: Walker


def _inventory(session: dict[str, object]) -> Inventory:
    """The operator's inventory if this machine can read it (host names for remedies)."""
    src = session.get("inventory")
    if isinstance(src, str) and src:
        try:
            return load_inventory(src)
        except CloudtalesError:
            pass
    return Inventory(name="followed", hosts={})


class FollowScreen(WalkScreen):
    HELP_TITLE = "follow (read-only)"
    HELP_INTRO = (
        "You are following someone else's investigation: the screen updates as their "
        "journal grows. Nothing can be run from here."
    )
    BINDINGS = [
        Binding("d", "diagnosis", "Diag", tooltip="show the diagnosis (remedies as dry runs)"),
        Binding("t", "packets", "Pkts", tooltip="the operator's last packet table"),
        Binding("q", "app.quit", "Quit", tooltip="stop following (the operator goes on)"),
    ]
    NOT_HERE = elsewhere(
        "r a s b f n p c h x enter escape", "read-only: you follow someone else's walk"
    )

    def __init__(self, graph: PlaybookGraph, journal: str | Path, poll: float = POLL_SECONDS):
        super().__init__()
        self.follower = Follower(graph, journal)
        self.view = FollowView(graph, Inventory(name="followed", hosts={}), self.follower.walker)
        self.poll_seconds = poll
        self._routes: dict[str, LivePane] = {}
        self._rr = 0
        self._problems_shown = 0
        self._diagnosis: DiagnosisScreen | None = None

    @property
    def walker(self) -> Walker:
        return self.follower.walker

    def compose(self) -> ComposeResult:
        yield Header()
        yield from walk_layout()
        yield Footer(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        self.query_one("#path").border_title = "path (following)"
        self.query_one("#facts").border_title = "facts & evidence"
        self.app.sub_title = f"following {self.follower.path.name} (read-only)"
        self.poll_journal()
        self.set_interval(self.poll_seconds, self.poll_journal, name="follow journal")
        self.set_interval(1.0, self._show_status, name="follow status")

    # ---- the journal -------------------------------------------------------------
    def poll_journal(self) -> None:
        try:
            update = self.follower.poll()
        except CloudtalesError as exc:
            self.query_one(StepPanel).set_status(str(exc))
            return
        if update.reset:
            self._clear_panes()
        if self.view.walker is not self.follower.walker or (
            self.follower.started and not self.view.inventory.hosts
        ):
            self.view = FollowView(
                self.follower.graph, _inventory(self.follower.session), self.follower.walker
            )
        for source, text in update.live:
            self._pane_for(source).push(LiveLine(source, text))
        if update.live:
            self.update_pane_tabs()
        if update.changed:
            self.refresh_walk()
        problems = self.follower.problems
        for problem in problems[self._problems_shown :]:
            self.notify(problem, severity="warning", timeout=8)
        self._problems_shown = len(problems)

    def refresh_walk(self) -> None:
        w = self.walker
        step = self.query_one(StepPanel)
        if not self.follower.started:
            self._show_status()
            return
        proposal = w.proposal()
        hosts: list[str] = []
        if proposal is not None:
            try:
                hosts = [h.name for h in hosts_for(proposal.check, self.view.inventory)]
            except CloudtalesError:
                hosts = list(proposal.check.hosts)
        self.query_one(DecisionPath).show(w)
        self.query_one(FactsPanel).show(w)
        step.show(w, hosts)
        verdict = w.verdict
        if verdict is not None:  # the investigation's hint names keys a follower does not have
            what = verdict.diagnosis.id if verdict.diagnosis else "inconclusive"
            text = Text.assemble(
                ("diagnosis: ", "bold"), (what, "bold reverse"), f"\n{verdict.title}\n"
            )
            text.append("d shows it with the remedies (as dry runs)", style="dim")
            step.query_one("#step-text", Static).update(text)
        self.set_class(self.follower.running is not None, "running")
        self._show_status()
        self._sync_diagnosis()
        self.update_pane_tabs()

    def _show_status(self) -> None:
        f = self.follower
        step = self.query_one(StepPanel)
        if not f.started:
            step.border_title = "waiting"
            step.set_status(f"waiting for {f.path} to start")
            return
        if f.running is not None:
            secs = max(0.0, time.time() - f.running.since)
            on = ", ".join(f.running.hosts) or "-"
            status = f"operator running {f.running.node} on {on} ({secs:.0f}s)"
        elif self.walker.done:
            status = "diagnosis reached: d shows it"
        else:
            last = time.strftime("%H:%M:%S", time.localtime(f.last_ts)) if f.last_ts else "-"
            status = f"waiting for the operator (last event {last})"
        step.set_status(status)

    def on_screen_resume(self) -> None:
        self._sync_diagnosis()  # the diagnosis may have come while help was open

    def _sync_diagnosis(self) -> None:
        """Show the diagnosis when the operator reaches it; drop it if they step back."""
        shown = self._diagnosis
        w = self.walker
        if shown is not None and (not w.done or shown.verdict.reached != w.state.current):
            if self.app.screen is shown:
                self.app.pop_screen()
            self._diagnosis = None
        if w.done and self._diagnosis is None and self.is_current:
            self.action_diagnosis()

    # ---- panes ---------------------------------------------------------------------
    def _pane_for(self, source: str) -> LivePane:
        pane = self._routes.get(source)
        if pane is not None and pane.source == source:
            return pane
        panes = self.panes
        free = [p for p in panes if p.source is None]
        if free:
            pane = free[0]
        else:
            self._rr += 1
            pane = panes[(self._rr - 1) % len(panes)]
        pane.attach(source)
        self._routes[source] = pane
        return pane

    def _clear_panes(self) -> None:
        self._routes.clear()
        for pane in self.panes:
            pane.release()
            pane.clear()

    # ---- actions ---------------------------------------------------------------------
    def action_packets(self) -> None:
        self.open_packets()

    def open_packets(self) -> bool:
        """The packet tables the operator's capture step journalled (with each
        frame's first bytes: the packet detail decodes them here too)."""
        try:
            packets = restore(self.follower.graph, self.walker.events).packets
        except CloudtalesError as exc:
            self.notify(str(exc), severity="warning")
            return False
        if packets is None:
            self.notify("no packet table in this walk yet", timeout=3)
            return False
        self.app.push_screen(PacketTablesScreen(packets.node, packets.tables))
        return True

    def action_diagnosis(self) -> None:
        if not self.walker.done:
            self.notify("no diagnosis yet: the operator is still investigating")
            return
        screen = DiagnosisScreen(self.view, read_only=True, record=False, packets=self.open_packets)
        self._diagnosis = screen
        self.app.push_screen(screen)
