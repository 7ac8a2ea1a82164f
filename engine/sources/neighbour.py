"""Neighbour (ARP) table sources: the kernel's table and its counters, one namespace's
entries, the kernel's "neighbor table overflow" messages.

The IPv4 neighbour table (``arp_cache``) is one for the whole kernel: its
``gc_thresh1/2/3`` are set only in the init namespace, and the ``entries`` and the
statistics ``ip -s ntable`` prints (``forced_gc_runs``, ``table_fulls``) count every
namespace's entries. ``ip -s ntable`` still works inside any namespace (read-only), and
``ip neigh`` there lists that namespace's own entries.
"""

from __future__ import annotations

from engine.sources.registry import register
from engine.sources.spec import NoParams, Source, SourceParams

SAMPLE_SEPARATOR = "--- cloudtales: second read ---"
MAX_KERNEL_LINES = 50


class NeighTableParams(SourceParams):
    interval: int = 0  # s between two reads (0: one read)


def _table(p: NeighTableParams) -> str:
    # the table-wide block comes first; the per-device blocks after it are cut off
    show = "ip -s ntable show name arp_cache | head -n 16"
    if p.interval <= 0:
        return show
    return f"{show} && sleep {int(p.interval)} && echo '{SAMPLE_SEPARATOR}' && {show}"


class KernelLogParams(SourceParams):
    lines: int = MAX_KERNEL_LINES


def _kernel_log(p: KernelLogParams) -> str:
    # the uptime first: a message's [seconds] tell how long ago the kernel said it
    return (
        "head -c 64 /proc/uptime; "
        f"dmesg 2>&1 | grep -F 'neighbor table overflow' | tail -n {max(1, p.lines)}"
    )


register(
    Source(
        "neigh_table",
        "The kernel's ARP table (ip -s ntable show name arp_cache): gc_thresh1/2/3, its "
        "entries and counters (forced_gc_runs, table_fulls), all namespaces'; twice "
        "INTERVAL seconds apart when asked",
        live=_table,
        params=NeighTableParams,
        offline=False,
        sos_note="the thresholds are in sos's sysctl output, the moment's entries and "
        "counters are not",
        parser="engine.detectors.neighbour.parse_ntable_samples",
    )
)
register(
    Source(
        "neigh_entries",
        "This namespace's IPv4 neighbour entries and their states (ip -4 neigh show)",
        live=lambda _p: "ip -4 neigh show | head -c 262144",
        params=NoParams,
        offline=False,
        sos_note="the moment's entries, of one namespace: sos keeps the host's",
        parser="engine.detectors.neighbour.parse_neigh",
    )
)
register(
    Source(
        "neigh_kernel_log",
        "The kernel's 'neighbor table overflow' messages (dmesg), with the uptime",
        live=_kernel_log,
        params=KernelLogParams,
        offline=False,
        sos_note="sos keeps dmesg as a whole (sos_commands/kernel/dmesg), without the uptime",
        parser="engine.detectors.neighbour.parse_overflow_log",
    )
)
