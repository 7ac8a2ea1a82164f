"""Requests per instance from the tail of a nova-api log (oslo.log line format).

Two kinds of line matter:

* the WSGI access line, one per request, logged when the response is sent::

    2013-11-05 14:03:41.234 2481 INFO nova.osapi_compute.wsgi.server [req-1 u t] \
10.0.0.1 "POST /v2/t/servers/9b7e...0e05/action HTTP/1.1" status: 200 len: 5905584121 time: 97.8

  (eventlet's older default, ``"POST ... HTTP/1.1" 200 5905584121 97.8``, parses too);

* with ``debug = True``, the body of each server action, which names it::

    ... DEBUG nova.api.openstack.wsgi [req-1 u t] Action: 'action', body: \
{"os-getConsoleOutput": {"length": null}} _process_stack ...

A ``POST /servers/<uuid>/action`` is counted as console output when its body line
says ``os-getConsoleOutput``; without debug logging, an action answered ``200``
with a body of 4 KiB or more is counted as *probably* console output (the other
server actions answer ``202`` with an empty body). Lines of other shapes
(tracebacks, continuation lines) are skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from engine.errors import CloudtalesError

CONSOLE_ACTION = "os-getConsoleOutput"
PROBABLE_CONSOLE_BYTES = 4096

_PREFIX = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?)\s+(?:\d+\s+)?"
    r"(?P<level>[A-Z]+)\s+(?P<logger>\S+)\s+\[(?P<ctx>[^\]]*)\]\s?(?P<msg>.*)$"
)
_ACCESS = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+"\s+(?:status: )?(?P<status>\d{3})\s+'
    r"(?:len: )?(?P<len>\d+|-)\s+(?:time: )?(?P<secs>\d+(?:\.\d+)?)"
)
_BODY = re.compile(r"Action: '(?P<action>[\w-]+)', body: (?P<body>.*)$")
_BODY_KEY = re.compile(r'^\s*\{\s*"(?P<name>[^"]+)"')
_SERVER_ACTION = re.compile(r"/servers/(?P<server>[0-9a-fA-F-]{32,36})/action(?:\?.*)?$")
_SERVERS = re.compile(r"/servers(?:\?.*)?$")
_REQ_ID = re.compile(r"\breq-[0-9a-fA-F-]+")


@dataclass(frozen=True)
class ApiRequest:
    when: datetime  # when the response was logged
    req_id: str | None
    method: str
    path: str
    status: int
    length: int | None
    seconds: float
    kind: str  # console | console? | action | boot | other
    instance: str | None
    line: str

    @property
    def console(self) -> bool:
        return self.kind in ("console", "console?")


@dataclass(frozen=True)
class ApiLog:
    source: str
    requests: tuple[ApiRequest, ...]
    first: datetime | None  # first and last timestamp of any parsed line
    last: datetime | None
    lines: int
    debug_bodies: int  # how many action bodies debug logging showed

    @property
    def window_seconds(self) -> float:
        if self.first is None or self.last is None:
            return 0.0
        return max(0.0, (self.last - self.first).total_seconds())


def _timestamp(text: str, source: str, lineno: int) -> datetime:
    norm = text.replace("T", " ").replace(",", ".")
    try:
        return datetime.fromisoformat(norm)
    except ValueError:
        raise CloudtalesError(f"{source}:{lineno}: bad timestamp {text!r}") from None


def _body_action(body: str) -> str | None:
    """The first key of the action body (``os-getConsoleOutput``), JSON or not."""
    text = body.split(" _process_stack", 1)[0].strip()
    try:
        data = json.loads(text)
    except ValueError:
        m = _BODY_KEY.match(text)
        return m.group("name") if m else None
    if isinstance(data, dict) and data:
        return str(next(iter(data)))
    return None


def _kind(method: str, path: str, status: int, length: int | None, action: str | None) -> str:
    if method == "POST" and _SERVER_ACTION.search(path):
        if action == CONSOLE_ACTION:
            return "console"
        if action is None and status == 200 and (length or 0) >= PROBABLE_CONSOLE_BYTES:
            return "console?"
        return "action"
    if method == "POST" and _SERVERS.search(path):
        return "boot"
    return "other"


def parse_api_log(text: str, source: str, *, truncated: bool = False) -> ApiLog:
    """Parse a nova-api log text. ``truncated``: the text starts mid-file (``tail -c``),
    so its first line is partial and dropped."""
    lines = text.split("\n")
    start = 1 if truncated and len(lines) > 1 else 0
    bodies: dict[str, str] = {}
    requests: list[ApiRequest] = []
    first: datetime | None = None
    last: datetime | None = None
    parsed = 0
    debug_bodies = 0
    for lineno, raw in enumerate(lines[start:], start + 1):
        m = _PREFIX.match(raw.rstrip("\r"))
        if m is None:
            continue
        parsed += 1
        when = _timestamp(m.group("ts"), source, lineno)
        first = when if first is None or when < first else first
        last = when if last is None or when > last else last
        ctx, msg = m.group("ctx"), m.group("msg")
        rid_match = _REQ_ID.search(ctx)
        req_id = rid_match.group(0) if rid_match else None
        body = _BODY.search(msg)
        if body is not None:
            debug_bodies += 1
            action = _body_action(body.group("body"))
            if req_id is not None and action is not None:
                bodies[req_id] = action
            continue
        access = _ACCESS.search(msg)
        if access is None:
            continue
        method, path = access.group("method"), access.group("path")
        status = int(access.group("status"))
        length = None if access.group("len") == "-" else int(access.group("len"))
        action_name = bodies.pop(req_id, None) if req_id else None
        server = _SERVER_ACTION.search(path)
        requests.append(
            ApiRequest(
                when=when,
                req_id=req_id,
                method=method,
                path=path,
                status=status,
                length=length,
                seconds=float(access.group("secs")),
                kind=_kind(method, path, status, length, action_name),
                instance=server.group("server") if server else None,
                line=raw[:400],
            )
        )
    if parsed == 0 and any(line.strip() for line in lines[start:]):
        raise CloudtalesError(
            f"{source}: no nova-api log lines found (expected "
            "'YYYY-MM-DD HH:MM:SS.mmm PID LEVEL logger [request context] message')"
        )
    return ApiLog(source, tuple(requests), first, last, parsed, debug_bodies)
