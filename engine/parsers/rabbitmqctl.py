"""Queue depths from ``rabbitmqctl -q list_queues name messages message_bytes``.

rabbitmqctl prints tab-separated rows. Depending on its version it adds a header
row (``name messages message_bytes``), ``Listing queues ...`` and ``...done.``
lines or a ``Timeout:`` line; those are skipped. A row whose counts are not
integers is an error naming the line.

>>> qs = parse_list_queues("name\\tmessages\\tmessage_bytes\\nreply_9f\\t24\\t100663296\\n", "ctl")
>>> (qs[0].name, qs[0].messages, qs[0].message_bytes)
('reply_9f', 24, 100663296)
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from engine.errors import CloudtalesError

COLUMNS = ("name", "messages", "message_bytes")
NOT_INSTALLED_MARKER = "__CT_NO_RABBITMQCTL__"
RC_MARKER = "__CT_RC="

_CHATTER = ("Listing queues", "...done", "Timeout:", "Timeout ")
_NODE_DOWN = (
    "unable to perform an operation on node",
    "unable to connect to node",
    "nodedown",
    "distribution failed",
)


@dataclass(frozen=True)
class QueueStat:
    name: str
    messages: int
    message_bytes: int | None  # None when this rabbitmqctl has no message_bytes column

    @property
    def bytes_per_message(self) -> float | None:
        if self.message_bytes is None or self.messages == 0:
            return None
        return self.message_bytes / self.messages


@dataclass(frozen=True)
class RabbitmqctlOutput:
    """What the bounded remote command said: installed?, exit status, and its text."""

    installed: bool
    exit_status: int | None
    text: str
    truncated: bool = False


def list_queues_command(rabbitmqctl: str, vhost: str, max_bytes: int) -> str:
    """Read-only and bounded: the last ``max_bytes`` of the listing, then the exit status."""
    ctl = shlex.quote(rabbitmqctl)
    return (
        f"command -v {ctl} >/dev/null 2>&1 || {{ echo {NOT_INSTALLED_MARKER}; exit 0; }}; "
        f"{{ {ctl} -q list_queues -p {shlex.quote(vhost)} {' '.join(COLUMNS)} 2>&1; "
        f'echo "{RC_MARKER}$?"; }} | tail -c {int(max_bytes)}'
    )


def split_command_output(stdout: str, max_bytes: int) -> RabbitmqctlOutput:
    """Separate the exit status from the listing; when ``tail -c`` cut the listing,
    its first (partial) row is dropped."""
    if stdout.strip() == NOT_INSTALLED_MARKER:
        return RabbitmqctlOutput(False, None, "")
    lines = stdout.rstrip("\n").split("\n")
    truncated = len(stdout.encode()) >= max_bytes and len(lines) > 1
    if truncated:
        lines = lines[1:]
    rc: int | None = None
    if lines and lines[-1].startswith(RC_MARKER):
        tail = lines.pop()[len(RC_MARKER) :]
        rc = int(tail) if tail.isdigit() else None
    return RabbitmqctlOutput(True, rc, "\n".join(lines), truncated)


def node_down(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in _NODE_DOWN)


def first_error_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:200]
    return "no output"


def parse_list_queues(text: str, source: str) -> list[QueueStat]:
    queues: list[QueueStat] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if not line.strip() or line.startswith(_CHATTER):
            continue
        fields = line.split("\t")
        if tuple(fields) in (COLUMNS, COLUMNS[:2]):
            continue  # the header row of rabbitmqctl >= 3.7
        if len(fields) not in (2, 3):
            raise CloudtalesError(
                f"{source}:{lineno}: expected 'name<TAB>messages<TAB>message_bytes', "
                f"got {line[:80]!r}"
            )
        counts = fields[1:]
        if not all(c.isdigit() for c in counts):
            raise CloudtalesError(
                f"{source}:{lineno}: queue {fields[0]!r}: counts are not integers: {counts!r}"
            )
        queues.append(
            QueueStat(
                name=fields[0],
                messages=int(counts[0]),
                message_bytes=int(counts[1]) if len(counts) == 2 else None,
            )
        )
    return queues
