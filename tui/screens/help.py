"""``?``: the keys of the screen underneath, with what each does (and the palette's name).

The rows come from the screen's active bindings, so they are always the truth: an
action a screen hides (a remedy in ``--read-only``, a hint outside a drill) is not
listed. ``screen_keys`` is shared with the command palette, which offers the same
actions by name.

Every key an operator may try from htop, less, lazygit or k9s (``KNOWN_KEYS``) is
either listed for a screen or says why it is not there (``not_here``: the screen's
``NOT_HERE``, plus what ``check_action`` hides); tests/tui/test_keys.py presses them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.actions import parse
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

KNOWN_KEYS = (
    "q", "escape", "question_mark", "slash", "tab", "shift+tab", "enter",
    "z", "w", "t", "r", "a", "s", "b", "f", "n", "p", "c", "d", "h", "x",
)  # fmt: skip
HIDDEN_ACTIONS = {"copy_text", "help_quit", "command_palette", "interrupt"}  # ctrl+c: subtitle
NO_PANE = "no live pane here (the investigation has them)"
ON_WALK = "on the investigation screen (esc or q goes back)"


def elsewhere(keys: str, why: str = ON_WALK) -> dict[str, str]:
    """``elsewhere("r a s", why)`` -> {"r": why, "a": why, "s": why}."""
    return dict.fromkeys(keys.split(), why)


@dataclass(frozen=True)
class KeyRow:
    keys: str  # "r, enter"
    action: str  # "run_step"
    description: str  # "Run"
    tooltip: str  # the longer explanation
    node: DOMNode  # where the action runs (the screen or the app)
    names: tuple[str, ...] = ()  # the bindings' key names ("question_mark", "enter")

    @property
    def text(self) -> str:
        return self.tooltip or self.description


def _enabled(node: DOMNode, action: str) -> bool:
    """The node's ``check_action`` verdict (False hides the action, as in the footer)."""
    namespace, name, params = parse(action)
    target = node.app if namespace == "app" else node
    return target.check_action(name, params) is not False


def screen_keys(screen: Screen[object]) -> list[KeyRow]:
    """The screen's bindings, then the app's: one row per action, its keys merged.

    Read from each node's own bindings (not ``active_bindings``, where a focused
    input's ``enter`` would shadow the screen's), minus what ``check_action`` hides."""
    app = screen.app
    rows: dict[tuple[int, str], KeyRow] = {}
    for node in (screen, app):
        for bindings in node._bindings.key_to_bindings.values():
            for binding in bindings:
                if binding.system or not _enabled(node, binding.action):
                    continue
                if node is app and screen.is_modal and not binding.priority:
                    continue  # a dialog cuts the app's bindings but the priority ones
                if parse(binding.action)[1] in HIDDEN_ACTIONS:
                    continue
                key = app.get_key_display(binding)
                slot = (id(node), binding.action)
                row = rows.get(slot)
                if row is None:
                    rows[slot] = KeyRow(
                        key,
                        binding.action,
                        binding.description,
                        binding.tooltip,
                        node,
                        (binding.key,),
                    )
                elif key not in row.keys.split(", "):
                    rows[slot] = KeyRow(
                        f"{row.keys}, {key}",
                        row.action,
                        row.description,
                        row.tooltip,
                        node,
                        (*row.names, binding.key),
                    )
    return list(rows.values())


def not_here(screen: Screen[object]) -> dict[str, str]:
    """Known keys this screen does not offer, each with why (what ``?`` says)."""
    listed = {name for row in screen_keys(screen) for name in row.names}
    why = dict(getattr(screen, "NOT_HERE", {}))
    for bindings in screen._bindings.key_to_bindings.values():
        for binding in bindings:
            if binding.key not in listed and not _enabled(screen, binding.action):
                off = getattr(screen, "why_off", None)
                reason = off(parse(binding.action)[1]) if callable(off) else None
                why.setdefault(binding.key, str(reason or "not available here now"))
    return {k: v for k, v in why.items() if k not in listed}


def keys_table(rows: list[KeyRow]) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(ratio=1)
    for row in rows:
        table.add_row(row.keys, row.description or row.action, row.tooltip)
    return table


class HelpScreen(ModalScreen[None]):
    """Lists the keys of ``screen`` (the one it was opened over). Any of esc/?/q closes it."""

    BINDINGS = [
        Binding("escape,question_mark,q,f1", "close", "Close", tooltip="close this help"),
    ]
    NOT_HERE = elsewhere(
        "slash tab shift+tab enter z w t r a s b f n p c d h x", "close the help first (esc)"
    )

    def __init__(self, screen: Screen[object]) -> None:
        super().__init__()
        self.rows = screen_keys(screen)
        self.missing = not_here(screen)
        self.screen_name = getattr(screen, "HELP_TITLE", type(screen).__name__)
        self.intro = getattr(screen, "HELP_INTRO", "")

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal help") as box:
            box.border_title = f"Keys: {self.screen_name}"
            box.border_subtitle = "esc closes; ctrl+c quits; ctrl+p: actions by name"
            with VerticalScroll(id="help-keys"):
                if self.intro:
                    yield Static(Text(self.intro, style="italic"), id="help-intro")
                yield Static(keys_table(self.rows), id="help-table")
                if self.missing:
                    yield Static(self._missing_text(), id="help-not-here")

    def _missing_text(self) -> Text:
        text = Text("not here:", style="bold")
        by_reason: dict[str, list[str]] = {}
        for key, why in self.missing.items():
            by_reason.setdefault(why, []).append(self.app.get_key_display(Binding(key, "")))
        for why, keys in by_reason.items():
            text.append(f"\n  {' '.join(keys)}: ", style="bold")
            text.append(why, style="dim")
        return text

    @property
    def plain(self) -> str:
        lines = [self.intro] if self.intro else []
        lines += [f"{r.keys}  {r.description}  {r.tooltip}" for r in self.rows]
        lines += [f"not here: {k}: {why}" for k, why in self.missing.items()]
        return "\n".join(lines)

    def action_close(self) -> None:
        self.dismiss(None)
