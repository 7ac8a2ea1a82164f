"""The cloudtales Textual app: symptom picker -> investigation -> diagnosis.

The engine (``engine/``) knows nothing of this module; the app owns one ``Session``
and closes it (runner connections, journal) when it exits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.app import App

from engine.errors import CloudtalesError
from engine.playbook.graph import PlaybookGraph
from engine.remote.inventory import Inventory
from engine.remote.runner import Runner
from engine.session import Session
from tui.commands import CloudtalesCommands
from tui.screens.investigation import InvestigationScreen
from tui.screens.symptom_picker import SymptomPickerScreen

RunnerFactory = Callable[[Inventory], Runner]


def _default_runner(inventory: Inventory) -> Runner:
    from engine.remote.factory import make_runner

    return make_runner(inventory)


class CloudtalesApp(App[None]):
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {CloudtalesCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    def __init__(
        self,
        graph: PlaybookGraph,
        inventory: Inventory,
        session: Session | None = None,
        journal_path: Path | None = None,
        title: str = "cloudtales",
        runner_factory: RunnerFactory | None = None,
    ) -> None:
        super().__init__()
        self.graph = graph
        self.inventory = inventory
        self.session = session
        self.journal_path = journal_path
        self.runner_factory = runner_factory or _default_runner
        self.title = title
        self.sub_title = inventory.name

    def on_mount(self) -> None:
        if self.session is not None:
            self._investigate(self.session)
        else:
            self.push_screen(SymptomPickerScreen(self.graph), self._symptom_chosen)

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
            )
        except CloudtalesError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            self.push_screen(SymptomPickerScreen(self.graph), self._symptom_chosen)
            return
        self._investigate(session)

    def _investigate(self, session: Session) -> None:
        self.session = session
        self.sub_title = f"{session.walker.state.symptom} ({self.inventory.name})"
        self.push_screen(InvestigationScreen(session))

    async def on_unmount(self) -> None:
        await self.close_session()

    async def close_session(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            await session.close()
