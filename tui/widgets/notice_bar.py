"""The reserved place for notifications: a line or two above the footer.

Textual's toasts float over the bottom right corner, where the newest lines of the
fourth live pane are. Every cloudtales screen has a ``NoticeBar`` instead, and the
app routes ``notify`` to the bar of the top-most screen that has one (a dialog's
notice goes to the screen underneath). The newest ``SHOWN`` notices are shown, each
until its own timeout; the toasts themselves are hidden (app.tcss).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

SHOWN = 2
STYLE = {"information": "", "warning": "bold yellow", "error": "bold red"}
MARK = {"information": "", "warning": "! ", "error": "!! "}  # readable without colour


@dataclass(frozen=True)
class Notice:
    text: str
    title: str
    severity: str
    until: float  # monotonic time it expires

    def line(self) -> Text:
        out = Text(MARK.get(self.severity, ""), style=STYLE.get(self.severity, ""))
        if self.title:
            out.append(f"{self.title}: ", style="bold")
        out.append(self.text, style=STYLE.get(self.severity, ""))
        return out


class NoticeBar(Static):
    DEFAULT_CSS = """
    NoticeBar { height: auto; max-height: 3; padding: 0 1; display: none; }
    NoticeBar.-active { display: block; }
    """

    def __init__(self, id: str = "notices") -> None:
        super().__init__(id=id, markup=False)
        self.notices: list[Notice] = []
        self.shown = 0  # notices ever shown here (those on screen expire)

    def show(
        self, text: str, title: str = "", severity: str = "information", timeout: float = 5.0
    ) -> None:
        self.notices.append(Notice(text, title, severity, time.monotonic() + timeout))
        self.shown += 1
        self.set_timer(timeout + 0.05, self._expire, name="notice expiry")
        self.refresh_notices()

    @property
    def plain(self) -> str:
        return "\n".join(n.line().plain for n in self.notices[-SHOWN:])

    def _expire(self) -> None:
        now = time.monotonic()
        self.notices = [n for n in self.notices if n.until > now]
        self.refresh_notices()

    def refresh_notices(self) -> None:
        shown = self.notices[-SHOWN:]
        self.set_class(bool(shown), "-active")
        self.update(Text("\n").join(n.line() for n in shown))
