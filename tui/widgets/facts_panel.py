"""Facts gathered so far (the operator's own marked) and the newest evidence."""

from __future__ import annotations

import json

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from engine.walker import Walker

MAX_VALUE = 120
MAX_EVIDENCE_LINES = 12


def fact_value(value: object) -> str:
    """Compact one-line rendering of a fact value.

    >>> fact_value({"20/100": 12})
    '{"20/100": 12}'
    >>> fact_value("x" * 200)[-3:]
    '...'
    """
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."


def facts_text(walker: Walker) -> Text:
    text = Text()
    manual = walker.operator_facts
    sources = walker.state.fact_sources
    facts = walker.facts
    shown = {k: v for k, v in facts.items() if not k.endswith(".summary")}
    if not shown:
        text.append("no facts yet: run a step (r) or add one (f)", style="dim")
    for name, value in shown.items():
        if text:
            text.append("\n")
        text.append(name, style="bold cyan" if name in manual else "bold")
        text.append(" = ")
        text.append(fact_value(value))
        if name in manual:
            text.append(" (you)", style="cyan")
        elif sources.get(name, "operator") != "operator":
            text.append(f" ({sources[name]})", style="dim")
    evidence = [e for s in reversed(walker.state.steps) for e in s.evidence]
    for ev in evidence[:4]:
        text.append(f"\n\n{ev.title}", style="bold underline")
        if ev.host:
            text.append(f" ({ev.host})", style="dim")
        lines = ev.text.splitlines()
        for line in lines[:MAX_EVIDENCE_LINES]:
            text.append(f"\n  {line}")
        if len(lines) > MAX_EVIDENCE_LINES:
            text.append(f"\n  ... {len(lines) - MAX_EVIDENCE_LINES} more", style="dim")
    notes = walker.state.notes
    if notes:
        text.append("\n\nnotes", style="bold underline")
        for _, note in notes[-5:]:
            text.append(f"\n  {note}", style="italic")
    return text


class FactsPanel(VerticalScroll):
    _text = Text()

    def compose(self) -> ComposeResult:
        yield Static(id="facts-text")

    def show(self, walker: Walker) -> None:
        self._text = facts_text(walker)
        self.query_one("#facts-text", Static).update(self._text)

    @property
    def plain(self) -> str:
        return self._text.plain
