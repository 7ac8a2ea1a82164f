"""Command palette (ctrl+p): every action of the current screen, grouped by prefix
(posting style: ``step:``, ``pane:``, ``journal:``, ``view:``, ``remedy:``, ``drill:``).

The commands are built from the screen's active bindings (the same rows ``?`` lists),
so an action a screen hides (a remedy in ``--read-only``, a hint outside a drill) is
not offered, and a new binding is in the palette without a line here. Commands that
take an argument are added per screen: ``pane: open on HOST``, ``remedy: run ID``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

from tui.screens.diagnosis import DiagnosisScreen
from tui.screens.help import screen_keys
from tui.screens.investigation import InvestigationScreen

NAMES = {
    "run_step": "step: run",
    "autopilot": "step: autopilot",
    "skip": "step: skip",
    "back": "step: back",
    "back_step": "step: back",
    "cancel": "step: cancel",
    "fact": "journal: fact",
    "note": "journal: note",
    "hint": "drill: hint",
    "open_pane": "pane: open...",
    "close_pane": "pane: close focused",
    "zoom": "view: zoom the focused pane",
    "wrap": "view: wrap long lines (or scroll)",
    "filter": "view: filter (only lines or rows with a text)",
    "next_pane": "view: next / previous pane",
    "packets": "view: packet table",
    "detail": "packet: decode at every capture point",
    "hex": "packet: show the bytes",
    "page": "packets: next / previous capture points",
    "next_table": "packets: next / previous table",
    "next_point": "packet: next / previous capture point",
    "diagnosis": "view: diagnosis",
    "help": "view: keys (help)",
    "close": "view: close",
    "run_remedy": "remedy: run highlighted",
    "choose": "symptom: start",
    "quit": "app: quit",
}
HIDDEN = {"command_palette", "help_quit", "interrupt"}


@dataclass(frozen=True)
class PaletteCommand:
    name: str
    run: Callable[[], object]
    help: str


def _name(screen: Screen[object], action: str, description: str) -> str:
    base = action.split("(", 1)[0].split(".")[-1]
    if base in NAMES:
        return NAMES[base]
    where = str(getattr(screen, "HELP_TITLE", "screen")).split(" ")[0]
    return f"{where}: {(description or base).lower()}"


def palette_commands(screen: Screen[object]) -> list[PaletteCommand]:
    commands: list[PaletteCommand] = []
    if isinstance(screen, InvestigationScreen):
        inv = screen.session.inventory
        commands += [
            PaletteCommand(
                f"pane: open on {name}",
                partial(screen.action_open_pane, name),
                f"run a command on {name} ({host.address}) in a live pane",
            )
            for name, host in inv.hosts.items()
        ]
    if isinstance(screen, DiagnosisScreen) and not screen.read_only:
        commands += [
            PaletteCommand(
                f"remedy: run {r.id}",
                partial(screen.action_run_remedy, r.id),
                f"run {r.title} (asks to confirm{'; CHANGES the host' if r.changes_host else ''})",
            )
            for r in screen.remedies
        ]
    seen = {c.name for c in commands}
    for row in screen_keys(screen):
        if row.action.split("(", 1)[0] in HIDDEN:
            continue
        name = _name(screen, row.action, row.description)
        if name in seen:
            name = f"{name} ({row.keys})"
        seen.add(name)
        run = partial(screen.app.run_action, row.action, row.node)
        commands.append(PaletteCommand(name, run, f"{row.text} ({row.keys})"))
    return commands


class CloudtalesCommands(Provider):
    def _commands(self) -> list[PaletteCommand]:
        return palette_commands(self.screen)

    async def discover(self) -> Hits:
        for cmd in self._commands():
            yield DiscoveryHit(cmd.name, cmd.run, help=cmd.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for cmd in self._commands():
            score = matcher.match(cmd.name)
            if score > 0:
                yield Hit(score, matcher.highlight(cmd.name), cmd.run, help=cmd.help)
