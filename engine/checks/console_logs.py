"""Check ``console_log_sizes``: how big every instance's console.log is, on each compute.

Sizes come from ``find -printf`` (never from reading a file). Only for a log over
the threshold does the check look inside, and then at most ``tail_bytes`` of its
end plus the instance's ids from the first 64 KiB of its libvirt.xml.
"""

from __future__ import annotations

import re

from pydantic import Field

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.console import (
    CONSOLE_LOG_OUTCOMES,
    ConsoleLog,
    ConsoleTail,
    judge_console_logs,
)
from engine.errors import CloudtalesError
from engine.parsers.find_sizes import (
    NO_DIR_MARKER,
    human_bytes,
    parse_find_sizes,
)
from engine.remote.inventory import Host
from engine.results import CheckResult
from engine.sources.nova import TAIL_MARK

_DOMAIN_ID = re.compile(r"<(name|uuid)>\s*([^<\s]+)\s*</\1>")


class ConsoleLogParams(CheckParams):
    instances_path: str = "/var/lib/nova/instances"
    path_var: str = Field(
        default="instances_path",
        description="a host var that overrides instances_path on that host",
    )
    huge_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    tail_bytes: int = Field(default=65536, gt=0, le=1 << 20)
    max_files: int = Field(default=5000, gt=0, le=100_000)


def _root(host: Host, params: ConsoleLogParams) -> str:
    return str(host.vars.get(params.path_var) or params.instances_path)


def parse_peek(stdout: str, size: int, tail_bytes: int) -> ConsoleTail:
    head, sep, tail = stdout.partition(f"{TAIL_MARK}\n")
    if not sep:
        raise CloudtalesError(f"unexpected output while reading the tail: {stdout[:80]!r}")
    ids = {m.group(1): m.group(2) for m in _DOMAIN_ID.finditer(head)}
    return ConsoleTail(ids.get("name"), ids.get("uuid"), tail, partial_first_line=size > tail_bytes)


async def _sizes(ctx: CheckContext, host: Host, params: ConsoleLogParams) -> list[ConsoleLog]:
    root = _root(host, params)
    res = await ctx.sources.read(
        host, "console_log_sizes", timeout=ctx.timeout, root=root, max_files=params.max_files
    )
    if not res.ok:
        raise CloudtalesError(f"host {host.name}: find under {root} failed: {res.why}")
    if res.stdout.strip() == NO_DIR_MARKER:
        raise CloudtalesError(
            f"host {host.name}: no directory {root} (set the host var {params.path_var!r} "
            "to nova's instances_path)"
        )
    found = parse_find_sizes(res.stdout, f"{host.name}: find {root}")
    logs = [ConsoleLog(host.name, f.path, f.size, f.allocated) for f in found]
    for log in sorted(logs, key=lambda log: log.size, reverse=True):
        ctx.emit(
            LiveLine(
                f"{host.name}:find",
                f"{human_bytes(log.size):>10}  {log.path}",
                f"over {human_bytes(params.huge_bytes)}" if log.size >= params.huge_bytes else None,
            )
        )
    return logs


async def _peek(ctx: CheckContext, log: ConsoleLog, params: ConsoleLogParams) -> ConsoleTail:
    host = ctx.inventory.host(log.host)
    res = await ctx.sources.read(
        host, "console_log_peek", timeout=ctx.timeout, path=log.path, tail_bytes=params.tail_bytes
    )
    if not res.ok:
        raise CloudtalesError(f"host {log.host}: cannot read the tail of {log.path}: {res.why}")
    tail = parse_peek(res.stdout, log.size, params.tail_bytes)
    for line in tail.text.replace("\x00", "").splitlines()[-5:]:
        ctx.emit(LiveLine(f"{log.host}:tail {log.path}", line[:200]))
    return tail


async def run(ctx: CheckContext, params: ConsoleLogParams) -> CheckResult:
    per_host = await gather_all(_sizes(ctx, h, params) for h in ctx.hosts)
    logs = [log for found in per_host for log in found]
    huge = [log for log in logs if log.size >= params.huge_bytes]
    # look inside only the largest over-threshold log of each host
    largest: dict[str, ConsoleLog] = {}
    for log in huge:
        if log.host not in largest or log.size > largest[log.host].size:
            largest[log.host] = log
    peeks = await gather_all(_peek(ctx, log, params) for log in largest.values())
    tails = {(log.host, log.path): tail for log, tail in zip(largest.values(), peeks, strict=True)}
    searched = [f"{h.name}:{_root(h, params)}" for h in ctx.hosts]
    out = judge_console_logs(logs, params.huge_bytes, tails, searched)
    return out


register(
    CheckType(
        name="console_log_sizes",
        title="console.log sizes on the compute nodes (find -printf, bounded tail)",
        outcomes=CONSOLE_LOG_OUTCOMES,
        params=ConsoleLogParams,
        run=run,
        facts=(
            "console_logs",
            "total_bytes",
            "biggest_host",
            "biggest_path",
            "biggest_bytes",
            "biggest_size",
            "instance",
            "instance_name",
            "huge_logs",
            "estimated_lines",
            "repeating_line",
            "repeats_in_tail",
        ),
    )
)
