"""The diagnosis: what is wrong, the evidence, links, and each remedy as a DRY RUN.

Nothing is run on this screen unless the operator asks for it and confirms: a remedy
that changes a host needs its id typed in; one that does not, a plain yes. Showing
a dry run and running a remedy are both recorded in the journal. In ``--read-only``
mode (and for a follower) the dry runs are shown but there is no way to run them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Log, OptionList, Static
from textual.widgets.option_list import Option

from engine.errors import CloudtalesError
from engine.playbook.graph import PlaybookGraph
from engine.playbook.model import Remedy
from engine.remedy import RemedyPlan, plan_remedy
from engine.remote.inventory import Host, Inventory
from engine.session import Session
from engine.walker import Walker
from tui.screens.help import NO_PANE, elsewhere
from tui.screens.modals import ConfirmModal
from tui.widgets.facts_panel import fact_value
from tui.widgets.notice_bar import NoticeBar

REMEDY_TIMEOUT = 120.0
READ_ONLY_NOTE = "read-only: shown as a dry run, never run from here"


class WalkView(Protocol):
    """What the screen reads: a live ``Session``, or a follower's replica."""

    @property
    def graph(self) -> PlaybookGraph: ...

    @property
    def inventory(self) -> Inventory: ...

    @property
    def walker(self) -> Walker: ...


def plan_for(session: WalkView, remedy: Remedy) -> RemedyPlan:
    """The remedy with this incident's facts filled in (hosts and commands)."""
    return plan_remedy(remedy, session.inventory, session.walker.facts)


def dry_run_text(session: WalkView, remedy: Remedy, read_only: bool = False) -> Text:
    plan = plan_for(session, remedy)
    hosts = plan.hosts
    text = Text()
    text.append(remedy.title, style="bold")
    if plan.description:
        text.append(f"\n{plan.description}")
    text.append("\nDRY RUN - nothing has been run.", style="bold yellow")
    text.append(" It would run, on ")
    text.append(", ".join(f"{h.name} ({h.address})" for h in hosts) or "no host", style="bold")
    text.append(":")
    for cmd in plan.commands:
        text.append(f"\n  $ {cmd}", style="cyan")
    if plan.missing_hosts:
        text.append(f"\nno host in the inventory for: {', '.join(plan.missing_hosts)}", style="red")
    if plan.unresolved:
        text.append(
            f"\nnot known from this walk: {', '.join(plan.unresolved)} (cannot run as is)",
            style="red",
        )
    how = (
        READ_ONLY_NOTE
        if read_only
        else f"changes the host: r, then type {remedy.id} to run it"
        if remedy.changes_host
        else "read-only: r, then y to run it"
    )
    text.append(f"\n{how}", style="dim")
    return text


class DiagnosisScreen(Screen[None]):
    HELP_TITLE = "diagnosis"
    BINDINGS = [
        Binding("q", "close", "Walk", tooltip="back to the investigation"),
        Binding("escape", "close", "Walk", show=False, tooltip="back to the investigation"),
        Binding("r", "run_remedy", "Remedy", tooltip="run the highlighted remedy (confirm)"),
        Binding("b", "back_step", "Back", tooltip="undo the last step: not convinced"),
        Binding("t", "packets", "Pkts", tooltip="the packet table of this walk"),
    ]
    NOT_HERE = (
        elsewhere("z w", NO_PANE)
        | elsewhere("a s f n p c d h x enter")
        | {"slash": "one page: nothing to filter"}
    )

    def __init__(
        self,
        session: WalkView,
        read_only: bool = False,
        record: bool = True,
        packets: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__()
        self.session = session
        self.packets = packets  # opens the walk's packet tables (False: there are none)
        self.read_only = read_only
        self.record = record  # a follower shows the dry runs without journalling them
        verdict = session.walker.verdict
        if verdict is None:
            raise CloudtalesError("no diagnosis reached yet")
        self.verdict = verdict
        self.diagnosis = verdict.diagnosis  # None: the walk ended inconclusive
        self.remedies = [
            session.graph.remedies[r]
            for r in (verdict.diagnosis.remedies if verdict.diagnosis else [])
            if r in session.graph.remedies
        ]

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="diagnosis-body"):
            yield Static(self._title(), id="dia-title")
            yield Static(self._explanation(), id="dia-explanation", markup=False)
            yield Static(self._evidence(), id="dia-evidence")
            yield Static(self._links(), id="dia-links")
            for remedy in self.remedies:
                box = Static(
                    dry_run_text(self.session, remedy, self.read_only),
                    id=f"remedy-{remedy.id}",
                    classes="remedy",
                )
                box.border_title = Content(f"DRY RUN: {remedy.id}")
                yield box
            if self.remedies and not self.read_only:
                yield OptionList(
                    *[Option(Content(f"run {r.id}..."), id=r.id) for r in self.remedies],
                    id="remedy-choice",
                )
            yield Log(id="remedy-output", max_lines=2000)
        yield NoticeBar()
        yield Footer(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        walker = self.session.walker
        for remedy in self.remedies if self.record else []:
            if not any(
                e.type == "remedy_dry_run"
                and e.data.get("remedy") == remedy.id
                and e.data.get("diagnosis") == self.verdict.reached
                for e in walker.events
            ):
                plan = plan_for(self.session, remedy)
                walker.record(
                    "remedy_dry_run",
                    diagnosis=self.verdict.reached,
                    remedy=remedy.id,
                    hosts=[h.name for h in plan.hosts],
                    commands=plan.commands,
                )
        self.query_one("#diagnosis-body").focus()

    @property
    def plain(self) -> str:
        parts = [self._title().plain, self._explanation(), self._evidence().plain]
        parts += [dry_run_text(self.session, r, self.read_only).plain for r in self.remedies]
        return "\n".join(parts)

    def _explanation(self) -> str:
        if self.diagnosis is not None:
            return self.verdict.explanation.strip()
        return (
            "No diagnosis stands on what could be observed. Each check below could not run, or "
            "a fact the diagnosis needs was not seen: check those by hand, then step back (b) "
            "and run them again, or record what you find with f."
        )

    def _title(self) -> Text:
        dia = self.diagnosis
        text = Text()
        if dia is None:
            text.append("inconclusive\n", style="bold reverse")
            text.append(self.verdict.title, style="bold")
            text.append(f"\n{self.verdict.line()}", style="yellow")
            return text
        text.append(f"{dia.id}\n", style="bold reverse")
        text.append(self.verdict.title, style="bold")
        if not dia.conclusive:
            text.append("\nnot conclusive: the playbook says where to look next", style="yellow")
        return text

    def _evidence(self) -> Text:
        walker = self.session.walker
        text = Text()
        if self.diagnosis is None:
            text.append("could not check", style="bold underline")
            for line in self.verdict.by_hand():
                text.append(f"\n  {line}")
            for unmet in self.verdict.unmet:
                text.append(f"\n  {self.verdict.reached} needs {unmet.line()}")
            text.append("\npath: ", style="bold")
            text.append(" -> ".join(walker.path))
            return text
        text.append("evidence", style="bold underline")
        got = dict(walker.evidence())
        ops = self.verdict.operator_facts
        names = [*self.verdict.backed_by]
        names += [n for n in self.diagnosis.evidence if n not in names]
        for name in names:
            text.append(f"\n  {name}", style="bold")
            text.append(f" = {fact_value(got[name])}" if name in got else " (not gathered)")
            if name in ops:
                text.append(" (the operator's)", style="italic")
        text.append("\npath: ", style="bold")
        text.append(" -> ".join(walker.path))
        if self.diagnosis.lesson:
            text.append("\nlesson: ", style="bold")
            text.append(self.diagnosis.lesson.strip(), style="italic")
        return text

    def _links(self) -> Text:
        dia = self.diagnosis
        links = [(link.title, link.url) for link in dia.links] if dia else []
        tale = self.session.graph.source_link(dia.id if dia else self.session.walker.state.symptom)
        if tale[1] not in {url for _, url in links}:
            links.append(tale)
        text = Text()
        text.append("links", style="bold underline")
        for title, url in links:
            text.append(f"\n  {title}: ")
            text.append(url, style=Style(underline=True, link=url))
        return text

    # ---- actions ------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "run_remedy":
            return not self.read_only and bool(self.remedies)
        if action == "back_step":
            return isinstance(self.session, Session)
        return True

    def why_off(self, action: str) -> str:
        if action == "back_step":
            return "you follow someone else's walk: they step back"
        if self.read_only:
            return "read-only: nothing is run from here"
        return "this diagnosis has nothing to run" if action == "run_remedy" else ""

    def action_close(self) -> None:
        self.dismiss(None)

    def action_packets(self) -> None:
        if self.packets is None:
            self.notify("no packet table here: the operator's screen has it", timeout=3)
        else:
            self.packets()

    def action_back_step(self) -> None:
        if not isinstance(self.session, Session):
            return
        try:
            self.session.walker.back()
        except CloudtalesError as exc:
            self.notify(str(exc), severity="warning")
            return
        self.dismiss(None)

    def _chosen(self) -> Remedy | None:
        if not self.remedies or self.read_only:
            return None
        choice = self.query_one("#remedy-choice", OptionList)
        index = choice.highlighted if choice.highlighted is not None else 0
        return self.remedies[index]

    @on(OptionList.OptionSelected, "#remedy-choice")
    def _selected(self) -> None:
        self.action_run_remedy()

    def action_run_remedy(self, remedy_id: str | None = None) -> None:
        if self.read_only or not isinstance(self.session, Session):
            self.notify(READ_ONLY_NOTE, severity="warning")
            return
        remedy = next((r for r in self.remedies if r.id == remedy_id), None) or self._chosen()
        if remedy is None:
            self.notify("this diagnosis has no remedy in the playbook")
            return
        plan = plan_for(self.session, remedy)
        if not plan.runnable:
            why = (
                f"not known from this walk: {', '.join(plan.unresolved)}"
                if plan.unresolved
                else "no host or no command to run"
            )
            self.notify(f"{remedy.id}: {why}", severity="warning")
            return
        hosts, commands = plan.hosts, plan.commands
        body = "\n".join(
            [f"on {', '.join(h.name for h in hosts)}:", *(f"  $ {c}" for c in commands)]
        )
        require = remedy.id if remedy.changes_host else None
        title = (
            f"Run {remedy.id}? It CHANGES the host" if remedy.changes_host else f"Run {remedy.id}?"
        )

        def confirmed(yes: object) -> None:
            if yes is True:
                self.run_remedy(remedy, hosts, commands)
            else:
                self.notify(f"{remedy.id}: not run")

        self.app.push_screen(ConfirmModal(title, body, require), confirmed)

    @work(exclusive=True, group="remedy", exit_on_error=False)
    async def run_remedy(self, remedy: Remedy, hosts: list[Host], commands: list[str]) -> None:
        if self.read_only or not isinstance(self.session, Session):
            return
        out = self.query_one("#remedy-output", Log)
        out.add_class("visible")
        results: list[dict[str, object]] = []
        ok = True
        for host in hosts:
            for cmd in commands:
                out.write_line(f"{host.name}$ {cmd}")
                try:
                    res = await self.session.runner.run(host, cmd, timeout=REMEDY_TIMEOUT)
                except CloudtalesError as exc:
                    results.append({"host": host.name, "command": cmd, "error": str(exc)})
                    out.write_line(f"  failed: {exc}")
                    ok = False
                    break
                results.append({"host": host.name, "command": cmd, "exit_status": res.exit_status})
                out.write_lines(
                    [f"  {line}" for line in (res.stdout + res.stderr).splitlines()[-20:]]
                    + [f"  exit {res.exit_status}"]
                )
                if not res.ok:
                    ok = False
                    break
            if not ok:
                break
        self.session.walker.record(
            "remedy_run", diagnosis=self.verdict.reached, remedy=remedy.id, ok=ok, results=results
        )
        self.notify(
            f"{remedy.id}: {'done' if ok else 'stopped at a failure'}",
            severity="information" if ok else "error",
        )
        out.scroll_visible()
