"""The decision path so far: symptom, each step with how it ended, the current step."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from engine.walker import Walker

HOW_STYLE = {
    "ran": "bold green",
    "answered": "bold cyan",
    "skipped": "yellow",
    "failed": "bold red",
}


def path_text(walker: Walker) -> Text:
    """The path as text: one block per step, the current step last (plain ASCII marks)."""
    st = walker.state
    text = Text()
    text.append("symptom ", style="dim")
    text.append(st.symptom, style="bold")
    for n, step in enumerate(st.steps, 1):
        text.append(f"\n{n}. ", style="dim")
        text.append(step.node)
        text.append("\n   -> ", style="dim")
        label = step.outcome if step.outcome is not None else step.how
        text.append(label, style=HOW_STYLE.get(step.how, ""))
        if step.how != "ran":
            text.append(f" ({step.how})", style="dim")
        if step.summary and step.how == "ran":
            text.append(f"\n   {step.summary}", style="dim")
    if walker.done:
        text.append("\n=> ", style="bold")
        text.append(st.current, style="bold reverse")
    elif st.current:
        text.append(f"\n> {len(st.steps) + 1}. ", style="bold")
        text.append(st.current, style="bold underline")
        text.append(" (next)", style="dim")
    return text


class DecisionPath(VerticalScroll):
    """Scrollable; follows the newest step."""

    _text = Text()

    def compose(self) -> ComposeResult:
        yield Static(id="path-text")

    def show(self, walker: Walker) -> None:
        self._text = path_text(walker)
        self.query_one("#path-text", Static).update(self._text)
        self.call_after_refresh(self.scroll_end, animate=False)

    @property
    def plain(self) -> str:
        return self._text.plain
