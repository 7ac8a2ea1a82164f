"""Console-log detectors ("Down the Rabbit Hole"): huge console.log files, floods of
``os-getConsoleOutput`` requests, and RabbitMQ queues carrying the result. Pure
functions over parsed data."""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from engine.parsers.api_access_log import ApiLog, ApiRequest
from engine.parsers.find_sizes import human_bytes
from engine.parsers.rabbitmqctl import QueueStat
from engine.results import CheckResult, Evidence, FactValue

CONSOLE_LOG_OUTCOMES = ("huge_log", "normal", "no_logs")
CONSOLE_RATE_OUTCOMES = ("console_flood", "console_normal", "no_console_requests")
QUEUE_OUTCOMES = ("large_messages", "backlog", "normal", "rabbit_down", "no_rabbitmq")

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_KERNEL_STAMP = re.compile(r"^\[\s*\d+\.\d+\]\s*")
TABLE_ROWS = 10


# ---------------------------------------------------------------- console.log sizes


@dataclass(frozen=True)
class ConsoleLog:
    host: str
    path: str
    size: int
    allocated: int

    @property
    def instance_dir(self) -> str:
        return PurePosixPath(self.path).parent.name


@dataclass(frozen=True)
class ConsoleTail:
    """What a bounded look at one log showed: its domain's ids and its last bytes."""

    domain_name: str | None
    domain_uuid: str | None
    text: str
    partial_first_line: bool = True


@dataclass(frozen=True)
class TailSummary:
    lines: tuple[str, ...]
    top_line: str | None
    top_count: int
    avg_line_bytes: float | None


def summarize_tail(tail: ConsoleTail) -> TailSummary:
    """The tail's complete lines, its most repeated message (kernel stamps removed)."""
    text = tail.text.replace("\x00", "")
    lines = text.split("\n")
    if tail.partial_first_line and len(lines) > 1:
        lines = lines[1:]
    if lines and lines[-1] == "":
        lines = lines[:-1]
    if not lines:
        return TailSummary((), None, 0, None)
    counts = Counter(_KERNEL_STAMP.sub("", line).strip() for line in lines)
    top, n = counts.most_common(1)[0]
    avg = sum(len(line.encode()) + 1 for line in lines) / len(lines)
    return TailSummary(tuple(lines), top or None, n, avg)


def instance_of(log: ConsoleLog, tail: ConsoleTail | None) -> str:
    """The instance uuid: the directory name (nova >= Grizzly) or libvirt.xml's <uuid>."""
    if UUID.match(log.instance_dir):
        return log.instance_dir
    if tail is not None and tail.domain_uuid:
        return tail.domain_uuid
    return log.instance_dir


def _size_table(logs: Sequence[ConsoleLog]) -> str:
    rows = []
    for log in logs[:TABLE_ROWS]:
        sparse = (
            f"  (sparse: {human_bytes(log.allocated)} on disk)" if log.allocated < log.size else ""
        )
        rows.append(f"{log.host:<12} {human_bytes(log.size):>10}  {log.path}{sparse}")
    if len(logs) > TABLE_ROWS:
        rows.append(f"... and {len(logs) - TABLE_ROWS} more")
    return "\n".join(rows)


def judge_console_logs(
    logs: Sequence[ConsoleLog],
    huge_bytes: int,
    tails: Mapping[tuple[str, str], ConsoleTail],
    searched: Sequence[str],
) -> CheckResult:
    """``huge_log`` when any console.log reaches ``huge_bytes`` (apparent size: what nova
    would read and ship); ``tails`` maps (host, path) to a bounded look at a big one."""
    where = ", ".join(searched) or "nowhere"
    if not logs:
        return CheckResult("no_logs", f"no console.log under {where}", {"console_logs": 0})
    ordered = sorted(logs, key=lambda log: log.size, reverse=True)
    biggest = ordered[0]
    tail = tails.get((biggest.host, biggest.path))
    huge = [log for log in ordered if log.size >= huge_bytes]
    facts: dict[str, FactValue] = {
        "console_logs": len(logs),
        "total_bytes": sum(log.size for log in logs),
        "biggest_host": biggest.host,
        "biggest_path": biggest.path,
        "biggest_bytes": biggest.size,
        "biggest_size": human_bytes(biggest.size),
        "instance": instance_of(biggest, tail),
        "instance_name": tail.domain_name if tail else None,
        "huge_logs": [f"{log.host}:{log.path} {human_bytes(log.size)}" for log in huge],
    }
    evidence = [Evidence("find -printf '%s %b %p' (largest first)", _size_table(ordered))]
    if not huge:
        return CheckResult(
            "normal",
            f"{len(logs)} console.log file(s), the largest {human_bytes(biggest.size)} "
            f"({biggest.host}:{biggest.path}), under {human_bytes(huge_bytes)}",
            facts,
            tuple(evidence),
        )
    named = facts["instance"]
    if tail is not None and tail.domain_name:
        named = f"{tail.domain_name} ({facts['instance']})"
    if tail is not None:
        summary = summarize_tail(tail)
        if summary.avg_line_bytes:
            facts["estimated_lines"] = int(biggest.size / summary.avg_line_bytes)
        facts["repeating_line"] = summary.top_line
        facts["repeats_in_tail"] = summary.top_count
        shown = "\n".join(summary.lines[-20:])
        evidence.append(
            Evidence(f"last lines of {biggest.path} (bounded tail)", shown, biggest.host)
        )
        if summary.top_line and summary.top_count > 1:
            evidence.append(
                Evidence(
                    "the same failure over and over",
                    f"{summary.top_count} of the last {len(summary.lines)} lines are "
                    f"{summary.top_line!r}",
                    biggest.host,
                )
            )
    return CheckResult(
        "huge_log",
        f"{biggest.host}: {biggest.path} is {human_bytes(biggest.size)} "
        f"({biggest.size} bytes), instance {named}",
        facts,
        tuple(evidence),
    )


# ---------------------------------------------------------------- console-output requests


@dataclass(frozen=True)
class InstanceRate:
    instance: str
    requests: int
    per_minute: float
    bytes: int
    max_seconds: float


def _rates(requests: Sequence[ApiRequest], minutes: float) -> list[InstanceRate]:
    by_instance: dict[str, list[ApiRequest]] = defaultdict(list)
    for req in requests:
        by_instance[req.instance or "?"].append(req)
    rates = [
        InstanceRate(
            inst,
            len(reqs),
            len(reqs) / minutes,
            sum(r.length or 0 for r in reqs),
            max(r.seconds for r in reqs),
        )
        for inst, reqs in by_instance.items()
    ]
    return sorted(rates, key=lambda r: (r.requests, r.bytes), reverse=True)


def judge_console_requests(
    logs: Sequence[ApiLog], per_minute: float, min_requests: int
) -> CheckResult:
    """``console_flood`` when one instance's console is fetched at least ``per_minute``
    times a minute (and ``min_requests`` times) over the window the logs cover."""
    requests = [r for log in logs for r in log.requests]
    firsts = [log.first for log in logs if log.first is not None]
    lasts = [log.last for log in logs if log.last is not None]
    window = (max(lasts) - min(firsts)).total_seconds() if firsts and lasts else 0.0
    minutes = max(window, 60.0) / 60.0
    console = [r for r in requests if r.console]
    boots = [r.seconds for r in requests if r.kind == "boot"]
    facts: dict[str, FactValue] = {
        "requests": len(requests),
        "console_requests": len(console),
        "window_seconds": round(window, 1),
        "debug_bodies": sum(log.debug_bodies for log in logs),
        "boot_requests": len(boots),
        "boot_median_seconds": round(statistics.median(boots), 2) if boots else None,
    }
    span = f"the last {window / 60:.1f} min of nova-api logs"
    if not console:
        return CheckResult(
            "no_console_requests",
            f"no os-getConsoleOutput requests in {span} ({len(requests)} requests)",
            facts,
        )
    rates = _rates(console, minutes)
    top = rates[0]
    facts.update(
        top_instance=top.instance,
        top_instance_requests=top.requests,
        top_instance_per_minute=round(top.per_minute, 1),
        top_instance_bytes=top.bytes,
        top_instance_size=human_bytes(top.bytes),
        instances=[f"{r.instance}: {r.requests} ({r.per_minute:.1f}/min)" for r in rates],
    )
    table = "\n".join(
        f"{r.instance}  {r.requests:>5} request{'' if r.requests == 1 else 's'}  "
        f"{r.per_minute:6.1f}/min  "
        f"{human_bytes(r.bytes):>10} returned  slowest {r.max_seconds:.1f} s"
        for r in rates[:TABLE_ROWS]
    )
    samples = [r.line for r in console if r.instance == top.instance][-3:]
    evidence = (
        Evidence(f"os-getConsoleOutput per instance ({span})", table),
        Evidence("latest requests for the top instance", "\n".join(samples)),
    )
    probable = sum(1 for r in console if r.kind == "console?")
    unsure = f" ({probable} inferred from 200 + large body; no debug bodies)" if probable else ""
    what = (
        f"instance {top.instance}: {top.requests} console-output request"
        f"{'' if top.requests == 1 else 's'}, "
        f"{top.per_minute:.1f}/min, {human_bytes(top.bytes)} returned{unsure}"
    )
    if top.requests >= min_requests and top.per_minute >= per_minute:
        return CheckResult("console_flood", what, facts, evidence)
    return CheckResult("console_normal", f"{what}: a normal rate", facts, evidence)


# ---------------------------------------------------------------- RabbitMQ queues


def rabbit_unavailable(key: str, host: str, said: str) -> CheckResult:
    assert key in ("rabbit_down", "no_rabbitmq")
    if key == "no_rabbitmq":
        summary = f"{host}: rabbitmqctl not found (no RabbitMQ on this host)"
    else:
        summary = f"{host}: RabbitMQ node not answering: {said}"
    return CheckResult(key, summary, {"queues": None, "rabbitmq_error": said or None})


def judge_queues(
    host: str, queues: Sequence[QueueStat], big_message_bytes: int, backlog_messages: int
) -> CheckResult:
    """``large_messages`` when a queue holds messages averaging ``big_message_bytes`` or
    more (RPC replies carrying whole files); ``backlog`` when one holds
    ``backlog_messages`` or more."""
    ordered = sorted(queues, key=lambda q: (q.message_bytes or 0, q.messages), reverse=True)
    total_bytes = sum(q.message_bytes or 0 for q in queues)
    big = [q for q in ordered if (q.bytes_per_message or 0) >= big_message_bytes]
    deep = [q for q in ordered if q.messages >= backlog_messages]
    top = ordered[0] if ordered else None
    facts: dict[str, FactValue] = {
        "queues": len(queues),
        "total_messages": sum(q.messages for q in queues),
        "total_bytes": total_bytes,
        "biggest_queue": top.name if top else None,
        "biggest_queue_messages": top.messages if top else None,
        "biggest_queue_bytes": top.message_bytes if top else None,
        "large_queues": [
            f"{q.name}: {q.messages} msgs, {human_bytes(q.message_bytes or 0)}" for q in big
        ],
    }
    table = "\n".join(
        f"{q.name:<40} {q.messages:>8} msgs {human_bytes(q.message_bytes or 0):>10}"
        + (f"  ({human_bytes(q.bytes_per_message)}/msg)" if q.bytes_per_message is not None else "")
        for q in ordered[:TABLE_ROWS]
    )
    evidence = (Evidence("rabbitmqctl list_queues name messages message_bytes", table, host),)
    if big:
        q = big[0]
        return CheckResult(
            "large_messages",
            f"{host}: {q.name} holds {q.messages} messages, {human_bytes(q.message_bytes or 0)} "
            f"({human_bytes(q.bytes_per_message or 0)} each)",
            facts,
            evidence,
        )
    if deep:
        q = deep[0]
        return CheckResult(
            "backlog", f"{host}: {q.name} has a backlog of {q.messages} messages", facts, evidence
        )
    return CheckResult(
        "normal",
        f"{host}: {len(queues)} queues, {facts['total_messages']} messages, "
        f"{human_bytes(total_bytes)} in all",
        facts,
        evidence,
    )
