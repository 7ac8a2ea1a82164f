"""The cloudtales Textual apps.

``CloudtalesApp``: symptom picker -> investigation -> diagnosis (and, in a drill, the
score card). ``FollowApp``: the same screens, read-only, rebuilt live from a journal
someone else is writing (``cloudtales follow``; ``cloudtales serve`` runs it per
browser). The engine (``engine/``) knows nothing of this module; the app owns one
``Session`` and closes it (runner connections, journal) when it exits.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.errors import MarkupError
from rich.text import Text
from textual.app import App
from textual.binding import Binding
from textual.command import Provider
from textual.content import Content
from textual.notifications import SeverityLevel
from textual.widgets import Input
from textual.worker import Worker, WorkerState

from engine.errors import CloudtalesError
from engine.playbook.index import SymptomSource
from tui.screens.help import HelpScreen
from tui.screens.symptom_picker import SymptomPickerScreen

# Start-up: the first frame needs only the picker. The engine (playbook graph, session,
# runners) and the other screens are imported where they are first used, after it.
if TYPE_CHECKING:
    from engine.drill_score import DrillAttempt
    from engine.playbook.graph import PlaybookGraph
    from engine.remote.inventory import Inventory
    from engine.remote.runner import Runner
    from engine.session import Session
from tui.widgets.notice_bar import NoticeBar

RunnerFactory = Callable[["Inventory"], "Runner"]
Loader = Callable[[], "tuple[PlaybookGraph, Inventory]"]
ANSI_THEME = "ansi-dark"
HEADER_CHROME = 20  # columns the header's icon and clock space take from the title


def _default_runner(inventory: Inventory) -> Runner:
    from engine.remote.factory import make_runner

    return make_runner(inventory)


def sixteen_colours(env: dict[str, str] | None = None) -> bool:
    """True when the terminal has only the 16 ANSI colours (or the user asked for them).

    >>> sixteen_colours({"TERM": "screen"}), sixteen_colours({"TERM": "tmux-256color"})
    (True, False)
    >>> sixteen_colours({})
    False
    >>> sixteen_colours({"TERM": "xterm", "COLORTERM": "truecolor"})
    False
    """
    env = dict(os.environ) if env is None else env
    if env.get("CLOUDTALES_ANSI") == "1" or env.get("TEXTUAL_COLOR_SYSTEM") == "standard":
        return True
    if env.get("TEXTUAL_COLOR_SYSTEM") in ("256", "truecolor"):
        return False
    if env.get("COLORTERM") in ("truecolor", "24bit"):
        return False
    term = env.get("TERM", "")
    return bool(term) and term != "dumb" and "256" not in term  # no TERM: headless, a test


class CloudtalesBase(App[None]):
    """What every cloudtales app shares: styles, the palette, ``?`` help, colours."""

    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {lambda: _commands()}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    BINDINGS = [
        Binding("question_mark,f1", "help", "Keys", tooltip="list the keys of this screen"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True, tooltip="quit cloudtales"),
        # priority: it must work over dialogs too (they cut the app's other bindings)
        Binding("ctrl+c", "interrupt", "Quit", show=False, priority=True, tooltip="quit now"),
    ]

    def __init__(self, read_only: bool = False, ansi: bool = False) -> None:
        super().__init__()
        self.read_only = read_only
        self.ansi = ansi  # the CLI passes sixteen_colours(); tests and screenshots do not
        self.notices_sent = 0
        if ansi:  # the terminal's own 16 colours, not a truecolor palette squeezed in
            self.theme = ANSI_THEME

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen))

    def action_interrupt(self) -> None:
        """ctrl+c: copy what is selected (in an input, or on the screen) as an input
        would; otherwise quit, as every terminal tool does."""
        focused = self.screen.focused if self.screen_stack else None
        if isinstance(focused, Input) and focused.selected_text:
            focused.action_copy()
            return
        selected = self.screen.get_selected_text() if self.screen_stack else None
        if selected:
            self.copy_to_clipboard(selected)
            return
        self.save_unfinished_note()
        self.exit()

    async def action_quit(self) -> None:
        """Quit now (ctrl+c, ctrl+q, or q answered): a half-written note is journalled
        first; the app's unmount closes the session, and a drill's CLI removes its lab."""
        self.save_unfinished_note()
        self.exit()

    def save_unfinished_note(self) -> None:
        walker = getattr(getattr(self, "session", None), "walker", None)
        from tui.screens.modals import NoteModal

        for screen in self.screen_stack:
            if isinstance(screen, NoteModal) and screen.draft and walker is not None:
                walker.note(f"(unfinished when cloudtales quit) {screen.draft}")

    # ---- the title, fitted; notices in the reserved bar ----------------------------
    @property
    def short_title(self) -> str:
        """``cloudtales drill: Double VLAN`` -> ``drill: Double VLAN``."""
        title = str(self.title)
        return title.removeprefix("cloudtales ") if title != "cloudtales" else title

    def format_title(self, title: str, sub_title: str) -> Content:
        """Whole words only: the short title, then the title alone, before any cut."""
        room = max(20, self.size.width - HEADER_CHROME)
        short = self.short_title if title == self.title else title
        for t, s in ((title, sub_title), (short, sub_title), (short, "")):
            if len(t) + (len(s) + 3 if s else 0) <= room:
                return super().format_title(t, s)
        return super().format_title(short, "")

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """In the current screen's notice bar, above the footer (a toast would cover the
        newest lines of a pane); a dialog, which has no bar, gets Textual's toast."""
        self.notices_sent += 1
        bars = self.screen.query(NoticeBar) if self.screen_stack else None
        if not bars:
            super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)
            return
        text = message
        if markup:
            try:
                text = Text.from_markup(message).plain
            except MarkupError:
                text = message
        bars.first().show(text, title, severity, timeout or self.NOTIFICATION_TIMEOUT)


def _commands() -> type[Provider]:
    from tui.commands import CloudtalesCommands

    return CloudtalesCommands


class CloudtalesApp(CloudtalesBase):
    """``loader`` (with ``picker``): the graph and the inventory are loaded in a thread
    after the picker, painted from ``picker`` (the cached symptom index), is on screen;
    ``load_error`` says why when that failed (the app then exits)."""

    graph: PlaybookGraph
    inventory: Inventory

    def __init__(
        self,
        graph: PlaybookGraph | None,
        inventory: Inventory | None,
        session: Session | None = None,
        journal_path: Path | None = None,
        title: str = "cloudtales",
        runner_factory: RunnerFactory | None = None,
        read_only: bool = False,
        drill: DrillAttempt | None = None,
        session_meta: dict[str, Any] | None = None,
        ansi: bool = False,
        banner: str | None = None,
        picker: SymptomSource | None = None,
        loader: Loader | None = None,
    ) -> None:
        super().__init__(read_only=read_only, ansi=ansi)
        self.banner = banner
        self._pending_fault: dict[str, Any] | None = None
        self._picker = picker
        self._loader = loader
        self._chosen: str | None = None  # picked before the loader finished
        self.load_error: str | None = None
        if graph is not None and inventory is not None:
            self.graph = graph
            self.inventory = inventory
        self.session = session
        self.journal_path = journal_path
        self.runner_factory = runner_factory or _default_runner
        self.drill = drill
        self.session_meta = session_meta or {}
        self.title = title
        self.sub_title = inventory.name if inventory is not None else ""

    @property
    def loaded(self) -> bool:
        return hasattr(self, "graph") and hasattr(self, "inventory")

    def on_mount(self) -> None:
        if self.banner:
            self.notify(self.banner, title="serving", timeout=20)
        if self.session is not None:
            self._investigate(self.session)
        else:
            self._pick()
        if self._loader is not None:  # once the picker is on screen
            self.call_after_refresh(self._start_loading)

    def _start_loading(self) -> None:
        self.run_worker(self._load, thread=True, exit_on_error=False, name="load playbooks")

    def _load(self) -> None:
        assert self._loader is not None
        graph, inventory = self._loader()
        self.call_from_thread(self._loaded, graph, inventory)

    def _loaded(self, graph: PlaybookGraph, inventory: Inventory) -> None:
        self.graph, self.inventory = graph, inventory
        self.sub_title = inventory.name
        if self._chosen is not None:
            chosen, self._chosen = self._chosen, None
            self._symptom_chosen(chosen)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name == "load playbooks" and event.state == WorkerState.ERROR:
            error = event.worker.error
            self.load_error = str(error) if isinstance(error, CloudtalesError) else repr(error)
            self.exit(return_code=2)

    def _pick(self) -> None:
        blind = self.drill is not None and self.drill.blind
        source = self.graph if self.loaded else self._picker
        assert source is not None
        self.push_screen(SymptomPickerScreen(source, blind=blind), self._symptom_chosen)

    def _symptom_chosen(self, symptom: str | None) -> None:
        if symptom is None:
            self.exit()
            return
        if not self.loaded:  # the loader calls back when it is done
            self._chosen = symptom
            self.notify("loading the playbooks and the inventory...", timeout=3)
            return
        from engine.session import Session

        try:
            session = Session.start(
                self.graph,
                self.inventory,
                self.runner_factory(self.inventory),
                symptom,
                self.journal_path,
                **self.session_meta,
            )
        except CloudtalesError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            self._pick()
            return
        self._investigate(session)

    def _investigate(self, session: Session) -> None:
        from engine.drill_score import FAULT_INJECTED
        from tui.screens.investigation import InvestigationScreen

        self.session = session
        if self._pending_fault is not None:
            session.walker.record(FAULT_INJECTED, **self._pending_fault)
            self._pending_fault = None
        if self.drill is None:
            self.sub_title = f"{session.walker.state.symptom} ({self.inventory.name})"
        self.push_screen(InvestigationScreen(session, drill=self.drill, read_only=self.read_only))

    async def on_unmount(self) -> None:
        await self.close_session()

    async def close_session(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            if self.drill is not None and self.drill.card is None:
                self.drill.finish(self.graph, session.walker.events)  # an unfinished attempt
            await session.close()

    # ---- a surprise drill's fault (called from the surprise thread) -----------------
    def fault_injected(self, data: dict[str, Any]) -> None:
        """Journal it (the trainee is not told); after a rebuild, reconnect."""
        from engine.drill_score import FAULT_INJECTED
        from engine.remote.inventory import load_inventory

        if data.get("rebuilt"):
            self.inventory = load_inventory(str(data["inventory"]))
            if self.session is not None:
                old = self.session.runner
                self.session.inventory = self.inventory
                self.session.runner = self.runner_factory(self.inventory)
                self.run_worker(old.close(), exit_on_error=False)
        if self.session is None:
            self._pending_fault = data
        else:
            self.session.walker.record(FAULT_INJECTED, **data)


class FollowApp(CloudtalesBase):
    """Read-only by construction: its only screen has no action that changes anything."""

    def __init__(
        self,
        graph: PlaybookGraph,
        journal: str | Path,
        poll: float = 0.25,
        ansi: bool = False,
    ) -> None:
        super().__init__(read_only=True, ansi=ansi)
        self.graph = graph
        self.journal = Path(journal)
        self.poll = poll
        self.title = "cloudtales follow"

    def on_mount(self) -> None:
        from tui.screens.follow import FollowScreen

        self.push_screen(FollowScreen(self.graph, self.journal, self.poll))
