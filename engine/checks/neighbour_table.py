"""Check ``neighbour_table``: is the kernel's ARP table over gc_thresh3, and refusing?

Three reads in the host's network namespace: the table (``ip -s ntable``: the global
thresholds, every namespace's entries, ``forced_gc_runs`` and ``table_fulls``) twice,
``seconds`` apart, so the counters are seen climbing now rather than since boot; the
namespace's own entries; the kernel's recent "neighbor table overflow" messages.
"""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine, read_ok
from engine.checks.registry import register
from engine.detectors.conntrack import RECENT_SECONDS
from engine.detectors.neighbour import (
    TABLE_OUTCOMES,
    NeighTable,
    judge_table,
    parse_neigh,
    parse_ntable_samples,
    parse_overflow_log,
)
from engine.errors import CloudtalesError
from engine.remote.inventory import Host
from engine.results import CheckResult


class NeighbourTableParams(CheckParams):
    seconds: int = 2  # between the two reads of the counters


async def read_table(ctx: CheckContext, host: Host, interval: int = 0) -> list[NeighTable]:
    res = await read_ok(ctx, host, "neigh_table", interval=interval)
    samples = parse_ntable_samples(res.stdout, f"host {host.name}: ip -s ntable")
    if not samples:
        raise CloudtalesError(f"host {host.name}: ip -s ntable printed no arp_cache table")
    return samples


async def run(ctx: CheckContext, params: NeighbourTableParams) -> CheckResult:
    host = ctx.hosts[0]
    samples = await read_table(ctx, host, params.seconds)
    own = parse_neigh((await read_ok(ctx, host, "neigh_entries")).stdout)
    klog = await ctx.sources.read(host, "neigh_kernel_log", timeout=ctx.timeout)
    kernel = parse_overflow_log(klog.stdout).recent("", RECENT_SECONDS) if klog.ok else []
    result = judge_table(host.name, samples[0], samples[-1], own, kernel)
    bad = "ARP table overflow" if result.outcome == "overflowing" else None
    ctx.emit(LiveLine(f"{host.name}:arp_cache", result.summary, bad))
    return result


register(
    CheckType(
        name="neighbour_table",
        title="The ARP table's entries against gc_thresh3, its table_fulls climbing",
        outcomes=TABLE_OUTCOMES,
        params=NeighbourTableParams,
        run=run,
        facts=(
            "thresh1",
            "thresh2",
            "thresh3",
            "entries",
            "table_fulls",
            "table_fulls_delta",
            "forced_gc_delta",
            "own_entries",
            "own_states",
            "kernel_messages",
        ),
    )
)
