"""The investigation: decision path, current step, four live panes, facts and evidence.

Checks run in an async worker (group ``check``, exclusive) on the app's event loop,
so the runner's connections stay on one loop. A check's live lines are routed by
source to a pane (the same source keeps its pane; a new one takes a free pane, or
the next one round-robin) and only appended to that pane's buffer: the panes flush
at ~30 Hz. Cancelling the worker cancels the check, which kills the remote commands.

For followers (``cloudtales follow``/``serve``) a bounded sample of what the panes
show is journalled about once a second as ``live`` events (``LiveSampler``). In a
drill, reaching a diagnosis scores the attempt and shows the score card.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header
from textual.worker import Worker, WorkerState

from engine.checks.base import LiveLine
from engine.drill_score import HINT, DrillAttempt, clock, hint, score
from engine.errors import CloudtalesError
from engine.executor import StepReport, hosts_for, step
from engine.journal import HEARTBEAT, HEARTBEAT_EVERY, RESUMED
from engine.journal_follow import LIVE, LiveSampler
from engine.results import FactValue, ResultTable
from engine.resume_state import restore
from engine.session import Session
from engine.sources.sosreport import SosreportSources
from tui.messages import PaneCommandEnded, PaneFlushed, WalkUpdated
from tui.screens.diagnosis import DiagnosisScreen
from tui.screens.modals import FactModal, NoteModal, PaneCommandModal, YesNoModal
from tui.screens.packets import PacketTablesScreen
from tui.screens.score_card import ScoreCardScreen
from tui.widgets.decision_path import DecisionPath
from tui.widgets.facts_panel import FactsPanel
from tui.widgets.live_pane import LivePane
from tui.widgets.step_panel import StepPanel
from tui.widgets.walk_layout import WalkScreen, walk_layout

LIVE_EVERY = 1.0  # seconds between two ``live`` journal events
STEP_EVENTS = ("check_result", "check_failed", "skip")


class InvestigationScreen(WalkScreen):
    HELP_TITLE = "investigation"
    HELP_INTRO = (
        "Each step is a read-only check on your hosts; its live output fills the panes. "
        "Everything is journalled (followers see it with `cloudtales follow`)."
    )
    # the footer shows what fits in 80 columns with ? and q; ? lists them all
    BINDINGS = [
        Binding("r", "run_step", "Run", tooltip="run the proposed check"),
        Binding("enter", "run_step", "Run", show=False),
        Binding("a", "autopilot", "Auto", tooltip="run every proposed check up to a diagnosis"),
        Binding("s", "skip", "Skip", show=False, tooltip="skip this check (follow its fallback)"),
        Binding("b", "back", "Back", show=False, tooltip="undo the last step"),
        Binding("f", "fact", "Fact", show=False, tooltip="record a fact you know"),
        Binding("n", "note", "Note", show=False, tooltip="add a note to the incident journal"),
        Binding("p", "open_pane", "Pane", show=False, tooltip="run a command in a live pane"),
        Binding("c,escape", "cancel", "Cancel", show=False, tooltip="cancel the running check"),
        Binding("d", "diagnosis", "Diag", tooltip="show the diagnosis and its remedies"),
        Binding("t", "packets", "Pkts", tooltip="the same packet at every capture point"),
        Binding("h", "hint", "Hint", show=False, tooltip="drill: a hint (it costs points)"),
        Binding("x", "close_pane", "Close pane", show=False, tooltip="stop and free a pane"),
        Binding("q", "quit", "Quit", tooltip="quit (a drill in progress asks first)"),
    ]

    def __init__(
        self, session: Session, drill: DrillAttempt | None = None, read_only: bool = False
    ) -> None:
        super().__init__()
        self.session = session
        self.walker = session.walker
        self.drill = drill
        self.packet_tables: tuple[str, tuple[ResultTable, ...]] | None = None
        self.read_only = read_only
        self.sampler = LiveSampler()
        self._sampled: dict[str, tuple[str, int]] = {}  # pane id -> (source, lines sampled)
        self._step_started = 0.0
        self._live_node: str | None = None  # the step the sampled lines belong to
        self._check: Worker[None] | None = None
        self._routes: dict[str, LivePane] = {}
        self._step_sources: set[str] = set()
        self._rr = 0
        self._diagnosis_shown: str | None = None

    # ---- layout -------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield from walk_layout()
        yield Footer(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        self.query_one("#path").border_title = "path"
        self.query_one("#facts").border_title = "facts & evidence"
        self.set_interval(LIVE_EVERY, self._tick, name="live journal and progress")
        if any(e.type == RESUMED for e in self.walker.events):
            self._restore()
        self._offline_panes()
        self.refresh_walk()

    def _offline_panes(self) -> None:
        """Offline (sosreports): the panes show each file a check read, not live streams."""
        sources = getattr(self.session.runner, "sources", None)
        if isinstance(sources, SosreportSources):
            sources.on_read = lambda r: self.route(
                LiveLine("sosreports:files read", f"{r.host} {r.source}: {', '.join(r.files)}")
            )

    def _restore(self) -> None:
        """``--resume``: the packet table, the panes' last lines and the drill's clock."""
        state = restore(self.session.graph, self.walker.events)
        if state.packets is not None:
            self.packet_tables = (state.packets.node, state.packets.tables)
        by_id = {p.id: p for p in self.panes}
        for view in state.panes:
            pane = by_id.pop(view.pane, None) or self._pick_pane()
            by_id.pop(pane.id or "", None)
            pane.attach(view.source)
            for text in view.lines:
                pane.push(LiveLine(view.source, text))
            pane.push_status("restored from the journal: its last journalled lines")
            pane.mark_stale()
            self._routes[view.source] = pane
            self._sampled[pane.id or ""] = (view.source, pane.lines)  # journalled: not again
        if state.drill is not None and state.drill.hints:
            self.notify(state.drill.hints[-1], title="your last hint", timeout=8)
        self._show_drill_clock()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "hint":
            return self.drill is not None
        return True

    def why_off(self, action: str) -> str:
        return "hints are for drills (cloudtales drill NAME)" if action == "hint" else ""

    def action_quit(self) -> None:
        """``q``: quit; a drill in progress asks first (y quits, n or esc stays)."""
        drill = self.drill
        if drill is None or drill.card is not None:
            self.app.exit()
            return

        def answered(yes: object) -> None:
            if yes is True:
                self.app.exit()

        self.app.push_screen(YesNoModal("quit the drill?"), answered)

    @property
    def running(self) -> bool:
        return self._check is not None and not self._check.is_finished

    def refresh_walk(self) -> None:
        w = self.walker
        proposal = w.proposal()
        hosts = (
            [h.name for h in hosts_for(proposal.check, self.session.inventory)] if proposal else []
        )
        self.query_one(DecisionPath).show(w)
        self.query_one(FactsPanel).show(w)
        self.query_one(StepPanel).show(w, hosts)
        if not w.done:
            self._diagnosis_shown = None
        elif self._diagnosis_shown != w.state.current and self.is_current:
            self._diagnosis_shown = w.state.current
            self.action_diagnosis()
            self._score_drill()

    @on(WalkUpdated)
    def _walk_updated(self) -> None:
        self.refresh_walk()

    # ---- running checks -------------------------------------------------------
    def action_run_step(self) -> None:
        self._start(autopilot=False)

    def action_autopilot(self) -> None:
        self._start(autopilot=True)

    def _start(self, autopilot: bool) -> None:
        if self.running:
            self.notify("a check is running: c cancels it", severity="warning")
        elif self.walker.done:
            self.action_diagnosis()
        else:
            self._check = self._run_checks(autopilot)

    @work(exclusive=True, group="check", exit_on_error=False)
    async def _run_checks(self, autopilot: bool) -> None:
        s = self.session
        while (proposal := self.walker.proposal()) is not None:
            self._begin_step(proposal.node)
            report = await step(self.walker, s.runner, s.inventory, self.route)
            self._end_step(report)
            if not autopilot:
                break

    def _begin_step(self, node: str) -> None:
        for pane in self.panes:
            if pane.source in self._step_sources:
                pane.mark_stale()
        self._step_sources.clear()
        self._journal_live()  # what the previous step's panes showed last
        self.sampler.new_step()
        self._live_node = node
        self._step_started = time.monotonic()
        self.add_class("running")
        self._show_progress()

    def _end_step(self, report: StepReport) -> None:
        self._flush_panes()
        result = report.outcome or f"failed -> fallback ({report.error})"
        self.notify(f"{report.node}: {result}", timeout=3)
        if report.tables:
            self.packet_tables = (report.node, report.tables)
            self.notify(f"{report.node}: packet table ready (t)", timeout=5)
        self.post_message(WalkUpdated(report.node))

    def _flush_panes(self) -> None:
        for pane in self.panes:
            pane.flush(final=True)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self._check or not event.worker.is_finished:
            return
        self.remove_class("running")
        self._flush_panes()
        if event.state == WorkerState.CANCELLED:
            node = self.walker.state.current
            self.walker.record("check_cancelled", node=node)
            self.notify(f"{node}: cancelled; nothing recorded", severity="warning")
        elif event.state == WorkerState.ERROR:
            self.notify(f"check crashed: {event.worker.error}", severity="error", timeout=10)
        self.refresh_walk()

    def route(self, line: LiveLine) -> None:
        """The check's ``emit``: one deque append, no UI work per line."""
        pane = self._routes.get(line.source)
        if pane is None or pane.source != line.source:
            pane = self._pane_for(line.source)
        pane.push(line)

    def _pick_pane(self) -> LivePane:
        """A free pane, else the next one round-robin that no command and no source of
        the running step holds."""
        panes = self.panes
        free = [p for p in panes if p.is_free]
        if free:
            return free[0]
        pool = [p for p in panes if not p.streaming and p.source not in self._step_sources]
        pool = pool or [p for p in panes if not p.streaming] or panes
        self._rr += 1
        return pool[(self._rr - 1) % len(pool)]

    def _pane_for(self, source: str) -> LivePane:
        pane = self._pick_pane()
        shown = self.current_pane()
        pane.attach(source)
        if shown is pane or shown.is_free or shown.source not in self._step_sources:
            self.show_pane(pane)  # one pane at a time (narrow): the check's first source
        self._routes[source] = pane
        self._step_sources.add(source)
        return pane

    @on(PaneFlushed)
    def _pane_flushed(self, event: PaneFlushed) -> None:
        self._sample(event.pane_id)
        self.update_pane_tabs()  # its counts (a pane reports at most 4 times a second)
        if self.running:
            self._show_progress(event.last_anomaly)

    def _show_progress(self, last_anomaly: str | None = None) -> None:
        """``running NODE 12s/60s: 340 live lines, 3 !! (why); c cancels``"""
        proposal = self.walker.proposal()
        if not self.running or proposal is None:
            return
        elapsed = time.monotonic() - self._step_started
        total = sum(p.lines for p in self.panes if p.source in self._step_sources)
        alerts = sum(p.anomalies for p in self.panes if p.source in self._step_sources)
        note = f", {alerts} !!" + (f" ({last_anomaly})" if last_anomaly else "") if alerts else ""
        self.query_one(StepPanel).set_status(
            f"running {proposal.node} {elapsed:.0f}s/{proposal.check.timeout:g}s: "
            f"{total} live lines{note}; c cancels"
        )

    # ---- what followers see ---------------------------------------------------------
    def _sample(self, pane_id: str) -> None:
        """Hand the lines a pane wrote since the last sample to the sampler."""
        pane = next((p for p in self.panes if p.id == pane_id), None)
        if pane is None or pane.source is None:
            return
        # lines in the log so far: pushed ones wait in the buffer until the next flush (a
        # flush reported late may come after the pane was given to another source)
        written = pane.lines - len(pane._buffer)
        source, seen = self._sampled.get(pane_id, (pane.source, 0))
        if source != pane.source or written < seen:  # given to another source, or cleared
            seen = 0
        new = written - seen
        self._sampled[pane_id] = (pane.source, written)
        if new > 0:
            lines = pane.log_widget.lines
            self.sampler.add(pane.source, lines[max(0, len(lines) - new) :])

    def _journal_live(self) -> None:
        data = self.sampler.take()
        if data is not None:
            panes = {p.source: p.id for p in self.panes if p.source}  # restored on --resume
            node = self._live_node or self.walker.state.current
            self.walker.record(LIVE, node=node, panes=panes, **data)

    def _tick(self) -> None:
        self._journal_live()
        events, drill = self.walker.events, self.drill
        quiet = bool(events) and time.time() - events[-1].ts >= HEARTBEAT_EVERY
        if drill is not None and drill.card is None and quiet:
            self.walker.record(HEARTBEAT)  # the drill's clock survives a kill -9
        self._show_progress()
        self._show_drill_clock()
        self.update_pane_tabs()

    def _show_drill_clock(self) -> None:
        """In a drill the header keeps time (alive time only, across resumes) and score
        so far: ``02:13 · 3 steps · 1 hint · 90 pts``."""
        drill = self.drill
        events = self.walker.events
        if drill is None or drill.card is not None or not events:
            return
        secs = int(clock(events, time.time()))
        steps = sum(1 for e in events if e.type in STEP_EVENTS)
        so_far = score(
            self.session.graph, events, drill.spec, blind=drill.blind, surprise=drill.surprise
        )
        hints = f"{so_far.hints} hint" + ("" if so_far.hints == 1 else "s")
        self.app.sub_title = (
            f"{secs // 60:02d}:{secs % 60:02d} · {steps} step{'' if steps == 1 else 's'} · "
            f"{hints} · {so_far.so_far} pts"
        )

    # ---- walker intents -----------------------------------------------------
    def _intent(self, what: str, fn: Callable[[], object]) -> bool:
        if self.running:
            self.notify(f"a check is running: cancel it (c) before you {what}", severity="warning")
            return False
        try:
            fn()
        except CloudtalesError as exc:
            self.notify(str(exc), severity="warning")
            return False
        self.post_message(WalkUpdated(what))
        return True

    def action_skip(self) -> None:
        self._intent("skip", partial(self.walker.skip))

    def action_back(self) -> None:
        self._intent("go back", partial(self.walker.back))

    def action_fact(self) -> None:
        proposal = self.walker.proposal()
        hints = [f"{proposal.node}.outcome={o}" for o in proposal.check.on] if proposal else []
        self.app.push_screen(FactModal(hints), self._fact_entered)

    def _fact_entered(self, result: object) -> None:
        if isinstance(result, tuple):
            name, value = result
            self.set_fact(str(name), value)

    def set_fact(self, name: str, value: FactValue) -> None:
        if self._intent("set a fact", partial(self.walker.set_fact, name, value)):
            self.notify(f"fact {name} = {value!r} recorded", timeout=3)

    def action_note(self) -> None:
        self.app.push_screen(NoteModal(), self._note_entered)

    def _note_entered(self, result: object) -> None:
        if isinstance(result, str):
            self.walker.note(result)
            self.post_message(WalkUpdated("note"))

    def action_diagnosis(self) -> None:
        if self.walker.done:
            self.app.push_screen(
                DiagnosisScreen(self.session, read_only=self.read_only, packets=self.open_packets),
                lambda _: self.refresh_walk(),
            )
        else:
            self.notify("no diagnosis yet: run the proposed step (r) or autopilot (a)")

    # ---- drills ---------------------------------------------------------------------
    def action_hint(self) -> None:
        if self.drill is None:
            self.notify("hints are for drills: `cloudtales drill NAME`", timeout=3)
            return
        text = hint(self.session.graph, self.walker, self.drill.spec.expect)
        self.walker.record(HINT, node=self.walker.state.current, text=text)
        self.notify(text, title="hint (-10 points)", timeout=12)

    def _score_drill(self) -> None:
        drill = self.drill
        if drill is None or drill.card is not None or not drill.fault_started(self.walker.events):
            return
        card = drill.finish(self.session.graph, self.walker.events)
        self.app.push_screen(ScoreCardScreen(card, drill.past(), packets=self.open_packets))

    def action_cancel(self) -> None:
        if self.running and self._check is not None:
            self._check.cancel()
            return
        pane = self._focused_pane()
        if pane is not None and pane.stop():
            return
        self.notify("nothing is running")

    # ---- panes ------------------------------------------------------------------
    def _focused_pane(self) -> LivePane | None:
        focused = self.focused
        for node in (focused, *(focused.ancestors if focused else ())):
            if isinstance(node, LivePane):
                return node
        return None

    def action_open_pane(self, host: str | None = None) -> None:
        inv = self.session.inventory
        suggestions = {name: self._suggest(name) for name in inv.hosts}
        self.app.push_screen(
            PaneCommandModal(list(inv.hosts), host, suggestions), self._pane_chosen
        )

    def _suggest(self, host: str) -> list[str]:
        hv = self.session.inventory.hosts[host].vars
        iface = hv.get("capture_iface") or hv.get("uplink") or "any"
        target = next(
            (
                h.vars["ip"]
                for h in self.session.inventory.hosts.values()
                if h.name != host and "ip" in h.vars
            ),
            None,
        )
        cmds = [f"tcpdump -i {iface} -n -e", "ip -d link show", "ip -s link show"]
        return cmds + ([f"ping -n -M do -s 1472 {target}"] if target else [])

    def _pane_chosen(self, result: object) -> None:
        if isinstance(result, tuple):
            self.open_pane(str(result[0]), str(result[1]))

    def open_pane(self, host: str, command: str) -> LivePane:
        h = self.session.inventory.host(host)
        focused = self._focused_pane()
        pane = focused if focused is not None and not focused.streaming else None
        pane = pane or self._pick_pane()
        pane.run_command(self.session.runner, h, command, int(h.vars.get("mtu", 1500)))
        self.walker.record("pane_opened", host=host, command=command)
        return pane

    @on(PaneCommandEnded)
    def _pane_ended(self, event: PaneCommandEnded) -> None:
        self.notify(f"{event.source}: {event.status}", timeout=3)

    def action_close_pane(self) -> None:
        pane = self.current_pane()
        if pane.is_free:
            self.notify(f"{pane.id} is free already (tab moves to another pane)", timeout=3)
            return
        pane.release()
        pane.clear()
        self.notify(f"{pane.id} stopped and freed", timeout=3)

    def action_packets(self) -> None:
        self.open_packets()

    def open_packets(self) -> bool:
        """The packet tables (``t``, here and on the diagnosis and score card)."""
        if self.packet_tables is None:
            self.notify("no packet table in this walk: a capture step makes one", timeout=3)
            return False
        node, tables = self.packet_tables
        self.app.push_screen(PacketTablesScreen(node, tables))
        return True
