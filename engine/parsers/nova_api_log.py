"""nova-api's access lines (``nova.ec2.wsgi.server``, ``nova.osapi_compute.wsgi.server``):
one request per line, with its status, length and time in seconds.

The Havana line from the tale (one line in the file; the guide wraps it)::

    2014-01-10 09:11:45.072 129745 INFO nova.ec2.wsgi.server [req-84d16d16-... 0c6e...
    7052...] 117.103.103.29 "GET /services/Cloud?AWSAccessKeyId=...&Action=RunInstances&...
    HTTP/1.1" status: 200 len: 1109 time: 138.5970151

Grizzly's has no pid. An EC2 request is named by its ``Action`` parameter; an OpenStack
API request by its method and path, with ids replaced by ``{id}``. Lines that are not
access lines (tracebacks, other loggers) are counted and skipped. ``tail_command`` is
the bounded remote read whose output ``split_tail`` takes apart.

>>> log = parse_api_log(
...     '2014-01-08 11:15:15.704 INFO nova.ec2.wsgi.server [req-1 u p] 117.103.103.29 '
...     '"GET /services/Cloud?AWSAccessKeyId=AK&Action=RunInstances&Signature=S HTTP/1.1" '
...     'status: 200 len: 931 time: 3.9426181\\nTraceback (most recent call last):\\n')
>>> r = log.requests[0]
>>> (r.api, r.action, r.status, r.seconds, log.skipped)
('ec2', 'RunInstances', 200, 3.9426181, 1)
>>> r.target
'/services/Cloud?AWSAccessKeyId=[redacted]&Action=RunInstances&Signature=[redacted]'
"""

from __future__ import annotations

import re
import shlex
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from engine.errors import CloudtalesError

_LINE = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) (?:(?P<pid>\d+) )?"
    r"(?P<level>[A-Z]+) (?P<logger>nova\.[\w.]*wsgi\.server) "
    r"\[(?P<ctx>[^\]]*)\] (?P<client>\S+) "
    r'"(?P<method>[A-Z]+) (?P<target>\S+) HTTP/[\d.]+" '
    r"status: (?P<status>\d{3}) len: (?P<len>\d+) time: (?P<time>\d+(?:\.\d+)?)\s*$"
)
# values worth hiding from a screen or a report (EC2 query-string auth)
SECRET_PARAMS = ("AWSAccessKeyId", "Signature", "X-Amz-Credential", "X-Amz-Signature")
_SECRET = re.compile(rf"((?:^|[?&])(?:{'|'.join(SECRET_PARAMS)})=)[^&\s]*")
_ID = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}|\d+)$")


@dataclass(frozen=True)
class ApiRequest:
    line_no: int
    timestamp: str
    pid: int | None
    api: str  # "ec2", "osapi_compute", "metadata"...
    request_id: str | None
    client: str
    method: str
    target: str  # path and query, secrets redacted
    action: str
    status: int
    length: int
    seconds: float

    def one_line(self) -> str:
        return (
            f"{self.timestamp} {self.action} status {self.status} "
            f"{self.seconds:.1f} s ({self.client})"
        )


@dataclass(frozen=True)
class ApiLog:
    requests: tuple[ApiRequest, ...]
    lines: int
    skipped: int


def redact_target(target: str) -> str:
    return _SECRET.sub(r"\1[redacted]", target)


def action_of(api: str, method: str, target: str) -> str:
    path, _, query = target.partition("?")
    if api == "ec2":
        params = dict(parse_qsl(query, keep_blank_values=True))
        if "Action" in params:
            return params["Action"]
    parts = ["{id}" if _ID.match(p) else p for p in path.split("/")]
    return f"{method} {'/'.join(parts)}"


def parse_line(line: str, line_no: int = 0) -> ApiRequest | None:
    m = _LINE.match(line)
    if m is None:
        return None
    logger = m.group("logger")
    api = logger.removeprefix("nova.").removesuffix(".wsgi.server") or "api"
    ctx = m.group("ctx").split()
    target = redact_target(m.group("target"))
    return ApiRequest(
        line_no=line_no,
        timestamp=m.group("ts"),
        pid=int(m.group("pid")) if m.group("pid") else None,
        api=api,
        request_id=ctx[0] if ctx and ctx[0].startswith("req-") else None,
        client=m.group("client"),
        method=m.group("method"),
        target=target,
        action=action_of(api, m.group("method"), m.group("target")),
        status=int(m.group("status")),
        length=int(m.group("len")),
        seconds=float(m.group("time")),
    )


def parse_api_log(text: str) -> ApiLog:
    requests: list[ApiRequest] = []
    lines = skipped = 0
    for no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        lines += 1
        req = parse_line(line, no)
        if req is None:
            skipped += 1
        else:
            requests.append(req)
    return ApiLog(tuple(requests), lines, skipped)


@dataclass(frozen=True)
class ActionStats:
    action: str
    api: str
    count: int
    max_seconds: float
    median_seconds: float
    slowest: ApiRequest

    def one_line(self) -> str:
        return (
            f"{self.action} ({self.api}): {self.count} request(s), "
            f"median {self.median_seconds:.1f} s, max {self.max_seconds:.1f} s"
        )


def rank_actions(requests: Iterable[ApiRequest]) -> list[ActionStats]:
    """Per action: count, median and max time; slowest (by max) first."""
    by_action: dict[tuple[str, str], list[ApiRequest]] = {}
    for req in requests:
        by_action.setdefault((req.api, req.action), []).append(req)
    stats = [
        ActionStats(
            action=action,
            api=api,
            count=len(reqs),
            max_seconds=max(r.seconds for r in reqs),
            median_seconds=statistics.median(r.seconds for r in reqs),
            slowest=max(reqs, key=lambda r: r.seconds),
        )
        for (api, action), reqs in by_action.items()
    ]
    return sorted(stats, key=lambda s: (-s.max_seconds, s.action))


# access lines only: the rest of the tail (tracebacks, debug lines) stays on the host
ACCESS_LINES = r" status: [0-9]{3} len: [0-9]+ time: [0-9.]+"


def tail_command(path: str, max_bytes: int) -> str:
    """The file's size on one line, then the access lines among at most ``max_bytes``
    from its end."""
    q = shlex.quote(path)
    grep = f"grep -E {shlex.quote(ACCESS_LINES)}"
    return f"stat -L -c %s -- {q} && {{ tail -c {max_bytes} -- {q} | {grep} || true; }}"


def split_tail(host: str, path: str, stdout: str) -> tuple[int, str]:
    size_line, _, text = stdout.partition("\n")
    try:
        return int(size_line.strip()), text
    except ValueError:
        raise CloudtalesError(f"host {host}: unexpected output reading {path}") from None
