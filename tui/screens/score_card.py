"""The drill's score card: time, steps against the shortest path, skips, wrong turns,
hints, the diagnosis right or wrong, why points were lost, and earlier attempts."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from engine.drill_score import ScoreCard, best
from engine.report import duration
from tui.screens.help import elsewhere


def card_text(card: ScoreCard, history: list[ScoreCard]) -> Text:
    """The card as text (ASCII marks, so it reads without colour too)."""
    t = Text()

    def row(label: str, value: str, style: str = "") -> None:
        t.append(f"\n{label:<13}", style="bold")
        t.append(value, style=style)

    verdict = "RIGHT" if card.right else "WRONG"
    t.append(f"drill {card.drill}", style="bold")
    if card.blind or card.surprise:
        t.append(" (" + ", ".join(f for f in ("blind", "surprise") if getattr(card, f)) + ")")
    reached = card.reached or "none: the drill ended before a diagnosis"
    row("diagnosis", f"{reached}  ", "")
    t.append(f"[{verdict}]", style="bold reverse green" if card.right else "bold reverse red")
    if not card.right:
        row("expected", card.expect)
    row("time", duration(card.seconds) if card.seconds is not None else "-")
    row("steps", f"{card.steps} (shortest path: {card.shortest})")
    row("skips", str(card.skips))
    row(
        "wrong turns",
        str(card.wrong_turns) + (f": {', '.join(card.off_path)}" if card.off_path else ""),
    )
    row("hints", str(card.hints))
    row("points", f"{card.points} / 100", "bold")
    for what, pts in card.penalties():
        t.append(f"\n  -{pts:<3} {what}", style="dim")
    t.append("\n\nshortest path: ", style="bold")
    t.append(" -> ".join(card.shortest_path))
    earlier = [c for c in history if c.ts != card.ts]
    t.append(f"\nattempt {len(earlier) + 1}", style="bold")
    top = best(history)
    if top is not None:
        took = f" in {duration(top.seconds)}" if top.seconds is not None else ""
        t.append(f"; best {top.points}{took}")
    if earlier:
        t.append("; before: " + " ".join(str(c.points) for c in earlier[-5:]))
    return t


class ScoreCardScreen(ModalScreen[None], inherit_bindings=False):  # tab: nothing to move to
    HELP_TITLE = "score card"
    BINDINGS = [
        Binding("q,enter,escape", "close", "Diagnosis", tooltip="read the diagnosis and evidence"),
        Binding("t", "packets", "Pkts", tooltip="the packet table of this walk"),
        Binding("question_mark", "app.help", "Keys", tooltip="list the keys of this screen"),
    ]
    NOT_HERE = elsewhere(
        "slash tab shift+tab z w r a s b f n p c d h x", "close the score card first (enter)"
    )

    def __init__(
        self,
        card: ScoreCard,
        history: list[ScoreCard],
        packets: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__()
        self.packets = packets
        self.card = card
        self.history = history
        self._text = card_text(card, history)

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal score-card") as box:
            box.border_title = "Score card"
            box.border_subtitle = "q: the diagnosis; t: packets; ?: keys"
            with VerticalScroll():
                yield Static(self._text, id="score-text")

    @property
    def plain(self) -> str:
        return self._text.plain

    def action_close(self) -> None:
        self.dismiss(None)

    def action_packets(self) -> None:
        if self.packets is None:
            self.notify("no packet table here", timeout=3)
        else:
            self.packets()
