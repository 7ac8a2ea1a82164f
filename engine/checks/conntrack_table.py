"""Check ``conntrack_table``: is the host's conntrack table full, and does it drop?

Three reads in the host's network namespace: the table's fill (``nf_conntrack_count``
against the global ``nf_conntrack_max``), the per-CPU statistics (``drop``,
``insert_failed``, ``early_drop``) and the kernel's recent "table full" messages that
name this namespace (dmesg is the whole kernel's: only this namespace's lines count).
"""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine, read_ok
from engine.checks.registry import register
from engine.detectors.conntrack import (
    TABLE_OUTCOMES,
    judge_table,
    parse_fill,
    parse_kernel_log,
    parse_stats,
)
from engine.remote.inventory import Host
from engine.results import CheckResult


class ConntrackTableParams(CheckParams):
    pass


async def read_drops(ctx: CheckContext, host: Host) -> int | None:
    """The namespace's conntrack ``drop`` counter (None: no statistics there)."""
    res = await ctx.sources.read(host, "conntrack_stats", timeout=ctx.timeout)
    if not res.ok:
        return None
    return parse_stats(res.stdout, f"host {host.name}: /proc/net/stat/nf_conntrack").get("drop")


async def run(ctx: CheckContext, params: ConntrackTableParams) -> CheckResult:
    host = ctx.hosts[0]
    fill = parse_fill((await read_ok(ctx, host, "conntrack_fill")).stdout)
    if fill.count is None:
        return judge_table(host.name, fill, {}, [])
    where = f"host {host.name}: /proc/net/stat/nf_conntrack"
    stats_res = await read_ok(ctx, host, "conntrack_stats")
    stats = parse_stats(stats_res.stdout, where)
    klog = await ctx.sources.read(host, "conntrack_kernel_log", timeout=ctx.timeout)
    kernel = parse_kernel_log(klog.stdout).recent(fill.netns) if klog.ok else []
    result = judge_table(host.name, fill, stats, kernel)
    bad = "table full" if result.outcome in ("full_dropping", "full") else None
    ctx.emit(LiveLine(f"{host.name}:conntrack", result.summary, bad))
    return result


register(
    CheckType(
        name="conntrack_table",
        title="The conntrack table's fill against nf_conntrack_max, its drop counters",
        outcomes=TABLE_OUTCOMES,
        params=ConntrackTableParams,
        run=run,
        facts=(
            "count",
            "max",
            "fill_percent",
            "drop",
            "insert_failed",
            "early_drop",
            "kernel_messages",
            "netns",
        ),
    )
)
