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
from typing import Any

from rich.errors import MarkupError
from rich.text import Text
from textual.app import App
from textual.binding import Binding
from textual.content import Content
from textual.notifications import SeverityLevel

from engine.drill_score import FAULT_INJECTED, DrillAttempt
from engine.errors import CloudtalesError
from engine.playbook.graph import PlaybookGraph
from engine.remote.inventory import Inventory, load_inventory
from engine.remote.runner import Runner
from engine.session import Session
from tui.commands import CloudtalesCommands
from tui.screens.follow import FollowScreen
from tui.screens.help import HelpScreen
from tui.screens.investigation import InvestigationScreen
from tui.screens.modals import NoteModal
from tui.screens.symptom_picker import SymptomPickerScreen
from tui.widgets.notice_bar import NoticeBar

RunnerFactory = Callable[[Inventory], Runner]
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
    COMMANDS = App.COMMANDS | {CloudtalesCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    BINDINGS = [
        Binding("question_mark,f1", "help", "Keys", tooltip="list the keys of this screen"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True, tooltip="quit cloudtales"),
    ]
    # ctrl+c: a focused input copies its selection; otherwise (Textual's ``help_quit``,
    # reached when nothing is selected) it quits, as in every terminal tool

    def __init__(self, read_only: bool = False, ansi: bool = False) -> None:
        super().__init__()
        self.read_only = read_only
        self.ansi = ansi  # the CLI passes sixteen_colours(); tests and screenshots do not
        if ansi:  # the terminal's own 16 colours, not a truecolor palette squeezed in
            self.theme = ANSI_THEME

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen))

    def action_help_quit(self) -> None:
        self.save_unfinished_note()
        self.exit()

    async def action_quit(self) -> None:
        """Quit now (ctrl+c, ctrl+q, or q answered): a half-written note is journalled
        first; the app's unmount closes the session, and a drill's CLI removes its lab."""
        self.save_unfinished_note()
        self.exit()

    def save_unfinished_note(self) -> None:
        walker = getattr(getattr(self, "session", None), "walker", None)
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


class CloudtalesApp(CloudtalesBase):
    def __init__(
        self,
        graph: PlaybookGraph,
        inventory: Inventory,
        session: Session | None = None,
        journal_path: Path | None = None,
        title: str = "cloudtales",
        runner_factory: RunnerFactory | None = None,
        read_only: bool = False,
        drill: DrillAttempt | None = None,
        session_meta: dict[str, Any] | None = None,
        ansi: bool = False,
        banner: str | None = None,
    ) -> None:
        super().__init__(read_only=read_only, ansi=ansi)
        self.banner = banner
        self._pending_fault: dict[str, Any] | None = None
        self.graph = graph
        self.inventory = inventory
        self.session = session
        self.journal_path = journal_path
        self.runner_factory = runner_factory or _default_runner
        self.drill = drill
        self.session_meta = session_meta or {}
        self.title = title
        self.sub_title = inventory.name

    def on_mount(self) -> None:
        if self.banner:
            self.notify(self.banner, title="serving", timeout=20)
        if self.session is not None:
            self._investigate(self.session)
        else:
            self._pick()

    def _pick(self) -> None:
        blind = self.drill is not None and self.drill.blind
        self.push_screen(SymptomPickerScreen(self.graph, blind=blind), self._symptom_chosen)

    def _symptom_chosen(self, symptom: str | None) -> None:
        if symptom is None:
            self.exit()
            return
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
        self.push_screen(FollowScreen(self.graph, self.journal, self.poll))
