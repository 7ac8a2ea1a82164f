"""Lines for a live pane as the screen takes them: cleaned once per batch, measured once.

A batch of ~330 tcpdump lines (36 KB) arrives 30 times a second per pane, so the usual
case (printable ASCII) must cost a few C-level passes over the whole batch and no
Python work per line: one ``join``, one ``encode``, one ``bytes.translate`` that deletes
control bytes (a length change means there was one), one ``max(map(len))``. ``clean_lines``
for 333 lines: 16-17 us; ``str.isprintable`` over the joined text 54-60 us (Unicode tables per
character), a regex search 120-135 us.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from rich.cells import cell_len
from rich.style import Style

ANOMALY_MARK = "!! "
STATUS_MARK = "-- "
ANOMALY_STYLE = Style(color="red", bold=True)
STATUS_STYLE = Style(dim=True, italic=True)

# what a line may not carry onto the screen: control codes (tabs are expanded first)
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_CONTROL_BYTES = bytes(range(0x20)) + b"\x7f"


def _clean_ascii(text: str) -> bool:
    """True when ``text`` is ASCII without control codes (False: look closer)."""
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError:
        return False
    return len(data.translate(None, _CONTROL_BYTES)) == len(data)


def clean_lines(batch: Iterable[str]) -> list[str]:
    """The batch as screen lines: embedded line breaks split, tabs expanded, other
    control codes shown as U+FFFD. The usual batch (printable text) is returned as is."""
    lines = batch if isinstance(batch, list) else list(batch)
    joined = "".join(lines)
    if _clean_ascii(joined) or joined.isprintable():
        return lines
    out: list[str] = []
    for line in lines:
        for part in line.splitlines() or [""]:
            out.append(_CONTROL.sub("\ufffd", part.expandtabs()))
    return out


def widest(lines: Sequence[str]) -> int:
    """Cells taken by the widest line (``len`` when the batch is ASCII)."""
    if not lines:
        return 0
    if "".join(lines).isascii():
        return max(map(len, lines))
    return max(map(cell_len, lines))


def rows_of(line: str, width: int) -> int:
    """Screen rows ``line`` takes when wrapped at ``width`` cells."""
    cells = len(line) if line.isascii() else cell_len(line)
    return max(1, -(-cells // width))


def line_style(line: str) -> Style | None:
    if line.startswith(ANOMALY_MARK):
        return ANOMALY_STYLE
    if line.startswith(STATUS_MARK):
        return STATUS_STYLE
    return None
