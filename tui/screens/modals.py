"""Small modal dialogs: a manual fact, a note, a pane command, a confirmation.

Each fits in 80x24, is driven by the keyboard alone (enter submits, escape cancels)
and returns its answer through ``dismiss`` (None when cancelled).
"""

from __future__ import annotations

import json

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, Select, Static

from engine.remote.host_vars import safe_command
from engine.results import FactValue

CANCEL: list[BindingType] = [Binding("escape", "cancel", "Cancel")]


def parse_fact(entry: str) -> tuple[str, FactValue]:
    """``name=value``; the value is JSON when it parses (numbers, true, lists), else text.

    >>> parse_fact("compute.bond0_mtu = 1500")
    ('compute.bond0_mtu', 1500)
    >>> parse_fact("capture-path.outcome=stacked")
    ('capture-path.outcome', 'stacked')
    """
    name, sep, raw = entry.partition("=")
    name, raw = name.strip(), raw.strip()
    if not sep or not name or " " in name:
        raise ValueError("type name=value, e.g. compute.bond0_state=down")
    try:
        value: FactValue = json.loads(raw)
    except ValueError:
        value = raw
    return name, value


class _Modal(ModalScreen[object]):
    BINDINGS = CANCEL

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _error(self, message: str) -> None:
        self.query_one(".modal-error", Static).update(message)


class FactModal(_Modal):
    """Record a fact the operator knows (``<check>.outcome=X`` answers that check)."""

    def __init__(self, suggestions: list[str]) -> None:
        super().__init__()
        self.suggestions = suggestions

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal") as box:
            box.border_title = "Manual fact"
            yield Label("name=value (a check's outcome answers it: node.outcome=X)")
            yield Input(
                placeholder="compute.bond0_state=down",
                id="fact-input",
                suggester=SuggestFromList(self.suggestions, case_sensitive=False),
            )
            yield Static(classes="modal-error")
            yield Static("enter records it, escape cancels", classes="modal-help")

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(parse_fact(event.value))
        except ValueError as exc:
            self._error(str(exc))


class NoteModal(_Modal):
    @property
    def draft(self) -> str:
        """What is typed so far (journalled if cloudtales quits with it unsent)."""
        inputs = self.query("#note-input")
        return inputs.first(Input).value.strip() if inputs else ""

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal") as box:
            box.border_title = "Note for the journal"
            yield Input(placeholder="what you saw or did", id="note-input")
            yield Static(classes="modal-error")
            yield Static("enter records it, escape cancels", classes="modal-help")

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())
        else:
            self._error("an empty note records nothing")


class PaneCommandModal(_Modal):
    """Pick a host and a read-only command for a live pane; returns (host, command)."""

    def __init__(
        self, hosts: list[str], host: str | None, suggestions: dict[str, list[str]]
    ) -> None:
        super().__init__()
        self.hosts = hosts
        self.host = host if host in hosts else (hosts[0] if hosts else None)
        # a command built from an inventory value that is no interface (or carries shell
        # metacharacters) is neither pre-filled nor suggested
        self.suggestions = {
            h: [c for c in cmds if safe_command(c)] for h, cmds in suggestions.items()
        }

    def compose(self) -> ComposeResult:
        first = (self.suggestions.get(self.host or "") or [""])[0]
        with Vertical(classes="modal") as box:
            box.border_title = "Live pane"
            yield Select(
                [(h, h) for h in self.hosts],
                value=self.host or Select.NULL,
                allow_blank=False,
                id="pane-host",
            )
            yield Input(
                value=first,
                placeholder="tcpdump -i bond0 -n icmp",
                id="pane-command",
                suggester=self._suggester(),
            )
            yield Static(classes="modal-error")
            yield Static(
                "tcpdump runs as -U -w - and is decoded; enter runs, escape cancels",
                classes="modal-help",
            )

    def on_mount(self) -> None:
        self.query_one("#pane-command", Input).focus()

    def _suggester(self) -> SuggestFromList:
        return SuggestFromList(self.suggestions.get(self.host or "", []), case_sensitive=False)

    @on(Select.Changed, "#pane-host")
    def _host_changed(self, event: Select.Changed) -> None:
        self.host = str(event.value)
        self.query_one("#pane-command", Input).suggester = self._suggester()

    @on(Input.Submitted, "#pane-command")
    def _submit(self, event: Input.Submitted) -> None:
        if self.host is None or not event.value.strip():
            self._error("pick a host and type a command")
            return
        self.dismiss((self.host, event.value.strip()))


class ConfirmModal(_Modal):
    """Yes/no; with ``require`` the operator must type that exact text to confirm."""

    BINDINGS = [*CANCEL, Binding("y", "yes", "Yes", show=False)]

    def __init__(self, title: str, body: str, require: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.require = require

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal confirm") as box:
            box.border_title = self.title_text
            yield Static(self.body, markup=False, classes="modal-body")
            if self.require:
                yield Label(f"type {self.require} and press enter to run it")
                yield Input(placeholder=self.require, id="confirm-input")
            else:
                yield Label("y or enter runs it, escape cancels")
            yield Static(classes="modal-error")

    def key_enter(self) -> None:
        if not self.require:
            self.dismiss(True)

    def action_yes(self) -> None:
        if not self.require:
            self.dismiss(True)

    @on(Input.Submitted, "#confirm-input")
    def _submit(self, event: Input.Submitted) -> None:
        if event.value.strip() == self.require:
            self.dismiss(True)
        else:
            self._error(f"that is not {self.require!r}: nothing was run")


class YesNoModal(_Modal):
    """``quit the drill? (y/n)``: y answers True; n or escape, False."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal yes-no") as box:
            box.border_title = "Confirm"
            yield Static(f"{self.question} (y/n)", markup=False, classes="modal-body")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class FilterModal(_Modal):
    """``/``: a text to filter by; enter applies it, an empty one shows everything."""

    def __init__(self, prompt: str, value: str = "") -> None:
        super().__init__()
        self.prompt = prompt
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal") as box:
            box.border_title = "Filter"
            yield Label(self.prompt)
            yield Input(
                value=self.value, placeholder="text (empty: show everything)", id="filter-text"
            )
            yield Static("enter applies it, escape cancels", classes="modal-help")

    @on(Input.Submitted, "#filter-text")
    def _submit(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())
