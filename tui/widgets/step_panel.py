"""The current step: what it checks, on which hosts, and why now; its run status below."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from engine.walker import Proposal, Walker

IDLE_HINT = "r runs it, s skips, f answers it"


def step_text(proposal: Proposal | None, walker: Walker, hosts: list[str]) -> Text:
    text = Text()
    if proposal is None:
        verdict = walker.verdict
        if verdict is not None and verdict.diagnosis is not None:
            text.append("diagnosis: ", style="bold")
            text.append(verdict.diagnosis.id, style="bold reverse")
            text.append(f"\n{verdict.title}\n")
            text.append(
                "d shows it with the remedies (as dry runs); b goes back a step", style="dim"
            )
        elif verdict is not None:
            text.append("inconclusive", style="bold reverse")
            text.append(f"\n{verdict.line()}\n")
            text.append("d says what to check by hand; b goes back a step", style="dim")
        return text
    chk = proposal.check
    text.append(chk.title, style="bold")
    text.append(f"\n{chk.type} on {', '.join(hosts) or '-'}, timeout {chk.timeout:g}s", style="dim")
    text.append("\nwhy: ", style="bold")
    text.append(proposal.reason)
    return text


class StepPanel(VerticalScroll):
    """Border title ``step N: node``; border subtitle is the run status."""

    _text = Text()

    def compose(self) -> ComposeResult:
        yield Static(id="step-text")

    def show(self, walker: Walker, hosts: list[str]) -> None:
        proposal = walker.proposal()
        self._text = step_text(proposal, walker, hosts)
        self.query_one("#step-text", Static).update(self._text)
        if proposal is not None:
            self.border_title = Content(f"step {proposal.step_number}: {proposal.node}")
            self.set_status(IDLE_HINT)
        else:
            self.border_title = Content("done" if walker.done else "no step")
            self.set_status("")
        self.scroll_home(animate=False)

    def set_status(self, status: str) -> None:
        self.border_subtitle = Content(status)

    @property
    def plain(self) -> str:
        return self._text.plain
