"""Command palette (ctrl+p): commands grouped by prefix, posting style.

``pane: open on HOST`` asks for a command and runs it in a live pane; ``step: ...``,
``autopilot``, ``note``, ``fact`` and ``diagnosis`` do what their keys do. Commands
only appear on the investigation screen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.screens.investigation import InvestigationScreen


@dataclass(frozen=True)
class PaletteCommand:
    name: str
    run: Callable[[], object]
    help: str


def palette_commands(screen: InvestigationScreen) -> list[PaletteCommand]:
    inv = screen.session.inventory
    commands = [
        PaletteCommand(
            f"pane: open on {name}",
            partial(screen.action_open_pane, name),
            f"run a command on {name} ({host.address}) in a live pane",
        )
        for name, host in inv.hosts.items()
    ]
    proposal = screen.walker.proposal()
    current = f"{proposal.node}: {proposal.check.title}" if proposal else "no step left"
    commands += [
        PaletteCommand("step: run", screen.action_run_step, f"run {current} (r)"),
        PaletteCommand(
            "step: skip", screen.action_skip, f"skip {current}; follow its fallback (s)"
        ),
        PaletteCommand("step: back", screen.action_back, "undo the last step (b)"),
        PaletteCommand("step: cancel", screen.action_cancel, "cancel the running check (c)"),
        PaletteCommand(
            "autopilot", screen.action_autopilot, "run every proposed check up to a diagnosis (a)"
        ),
        PaletteCommand("note", screen.action_note, "add a note to the incident journal (n)"),
        PaletteCommand(
            "fact", screen.action_fact, "record a fact you know; node.outcome=X answers a check (f)"
        ),
        PaletteCommand(
            "diagnosis",
            screen.action_diagnosis,
            "show the diagnosis and its remedies as dry runs (d)",
        ),
        PaletteCommand(
            "pane: close focused",
            screen.action_close_pane,
            "stop the focused pane's command and free it (x)",
        ),
    ]
    return commands


class CloudtalesCommands(Provider):
    def _commands(self) -> list[PaletteCommand]:
        screen = self.screen
        return palette_commands(screen) if isinstance(screen, InvestigationScreen) else []

    async def discover(self) -> Hits:
        for cmd in self._commands():
            yield DiscoveryHit(cmd.name, cmd.run, help=cmd.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for cmd in self._commands():
            score = matcher.match(cmd.name)
            if score > 0:
                yield Hit(score, matcher.highlight(cmd.name), cmd.run, help=cmd.help)
