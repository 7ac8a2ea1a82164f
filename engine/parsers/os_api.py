"""Parsers for "nova shows a compute service down": API answers, ``ps`` lines, the log.

>>> a = parse_answer('{"cloud": "c", "checked_at": "2026-12-04T14:00:30", "items": []}', "x")
>>> a.cloud, a.checked_at.second
('c', 30)
>>> parse_processes("  812  3600 /usr/bin/python3 /usr/bin/nova-compute --config-file f")[0].pid
812
>>> scan_compute_log("2026-12-04 14:00:01.1 9 ERROR x ACCESS_REFUSED - Login was refused").kind
'amqp_auth'
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from engine.errors import CloudtalesError


@dataclass(frozen=True)
class ApiAnswer:
    cloud: str
    checked_at: dt.datetime
    items: list[dict[str, Any]]


@dataclass(frozen=True)
class ComputeService:
    host: str
    state: str  # up / down, as nova judges it (service_down_time)
    status: str  # enabled / disabled
    updated_at: dt.datetime | None
    heartbeat_age: float | None  # seconds between the last heartbeat and checked_at
    disabled_reason: str | None
    forced_down: bool


def _time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        t = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.replace(tzinfo=None) if t.tzinfo is None else t.astimezone(dt.UTC).replace(tzinfo=None)


def parse_answer(text: str, what: str) -> ApiAnswer:
    """An api source's JSON answer; ``what`` names it in the error."""
    try:
        doc = json.loads(text)
        checked = _time(doc["checked_at"])
        items = list(doc["items"])
        if checked is None or not all(isinstance(i, dict) for i in items):
            raise ValueError("checked_at or items malformed")
        return ApiAnswer(str(doc.get("cloud", "")), checked, items)
    except (ValueError, KeyError, TypeError) as exc:
        raise CloudtalesError(f"{what}: not an API answer: {exc}") from None


def parse_items(text: str) -> list[dict[str, Any]]:
    return parse_answer(text, "api answer").items


def parse_compute_services(text: str) -> tuple[ApiAnswer, list[ComputeService]]:
    answer = parse_answer(text, "compute_services")
    out = []
    for item in answer.items:
        updated = _time(item.get("updated_at"))
        age = (answer.checked_at - updated).total_seconds() if updated else None
        out.append(
            ComputeService(
                host=str(item.get("host") or "?"),
                state=str(item.get("state") or "?"),
                status=str(item.get("status") or "?"),
                updated_at=updated,
                heartbeat_age=age,
                disabled_reason=item.get("disabled_reason"),
                forced_down=bool(item.get("forced_down")),
            )
        )
    return answer, out


@dataclass(frozen=True)
class Process:
    pid: int
    seconds: int
    args: str


_PS = re.compile(r"^\s*(\d+)\s+(\d+)\s+(.+)$")


def parse_processes(text: str) -> list[Process]:
    """``ps -eo pid=,etimes=,args=`` lines of nova-compute (others ignored)."""
    out = []
    for line in text.splitlines():
        m = _PS.match(line)
        if m and "nova-compute" in m.group(3):
            out.append(Process(int(m.group(1)), int(m.group(2)), m.group(3).strip()))
    return out


@dataclass(frozen=True)
class LogFinding:
    kind: str  # amqp_auth, amqp_unreachable, db_error, clean
    line: str  # the last line of that kind ("" when clean)
    count: int  # lines of that kind in the tail
    stopped: bool  # the last lines say the service was stopped cleanly


PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("amqp_auth", re.compile(r"ACCESS_REFUSED|AccessRefused|Login was refused")),
    (
        "amqp_unreachable",
        re.compile(
            r"AMQP server on \S+ is unreachable|AMQP server \S+ closed the connection"
            r"|Too many heartbeats missed|Unable to connect to AMQP server"
            r"|impl_rabbit.*Connection failed"
            r"|(?i:MessagingTimeout|Timed out waiting for a reply)"
        ),
    ),
    ("db_error", re.compile(r"DBConnectionError|OperationalError|Can't connect to MySQL")),
)
# at start-up nova-compute waits for nova-conductor and says so with a MessagingTimeout:
# the conductor was slow, not the broker unreachable
_CONDUCTOR_WAIT = "Timed out waiting for nova-conductor"
_STOPPED = re.compile(r"Caught SIGTERM|Stopping|stopping service|Shutting down")
_TRACEBACK = re.compile(r"^\d{4}-\d\d-\d\d \S+ \d+ ERROR \S+\s+(File |\^|Traceback)")


def scan_compute_log(text: str) -> LogFinding:
    """The most recent failure class in a nova-compute log tail (its last line wins)."""
    last: tuple[int, str, str] | None = None
    counts: dict[str, int] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if _TRACEBACK.match(line) or _CONDUCTOR_WAIT in line:
            continue
        for kind, pattern in PATTERNS:
            if pattern.search(line):
                counts[kind] = counts.get(kind, 0) + 1
                last = (i, kind, line.strip())
                break
    tail = lines[-20:]
    stopped = any(_STOPPED.search(ln) for ln in tail)
    if last is None:
        return LogFinding("clean", "", 0, stopped)
    _, kind, line = last
    return LogFinding(kind, line[:400], counts[kind], stopped)
