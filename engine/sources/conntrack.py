"""Connection-tracking sources: the table's fill, its per-CPU statistics, the kernel's
"table full" messages. All read in the host's (namespace's) own network namespace:
``nf_conntrack_count`` and ``/proc/net/stat/nf_conntrack`` are per namespace, while
``nf_conntrack_max`` is the kernel's one global maximum (read-only outside the init
namespace) that every namespace's count is compared with.
"""

from __future__ import annotations

from engine.sources.registry import register
from engine.sources.spec import NoParams, Source, SourceParams

NETFILTER = "/proc/sys/net/netfilter"
MAX_KERNEL_LINES = 50


def _fill(_p: NoParams) -> str:
    return (
        f"for k in nf_conntrack_count nf_conntrack_max; do "
        f'printf "%s=%s\\n" "$k" "$(cat {NETFILTER}/$k 2>/dev/null)"; done; '
        'printf "netns=%s\\n" "$(readlink /proc/self/ns/net)"'
    )


class KernelLogParams(SourceParams):
    lines: int = MAX_KERNEL_LINES


def _kernel_log(p: KernelLogParams) -> str:
    # the uptime first: a message's [seconds] tell how long ago the kernel said it
    return (
        "head -c 64 /proc/uptime; "
        f"dmesg 2>&1 | grep -F 'nf_conntrack: table full' | tail -n {max(1, p.lines)}"
    )


register(
    Source(
        "conntrack_fill",
        "The conntrack table's fill: nf_conntrack_count (this namespace), nf_conntrack_max "
        "(global), the namespace's inode",
        live=_fill,
        params=NoParams,
        offline=False,
        sos_note="the count is the moment's and per namespace: sos keeps neither with the inode",
        parser="engine.detectors.conntrack.parse_fill",
    )
)
register(
    Source(
        "conntrack_stats",
        "conntrack's per-CPU statistics (/proc/net/stat/nf_conntrack: drop, insert_failed, "
        "early_drop...), this namespace's",
        live=lambda _p: "head -c 16384 /proc/net/stat/nf_conntrack",
        params=NoParams,
        sos=("proc/net/stat/nf_conntrack",),
        parser="engine.detectors.conntrack.parse_stats",
    )
)
register(
    Source(
        "conntrack_kernel_log",
        "The kernel's 'nf_conntrack: table full' messages (dmesg; each names its netns "
        "inode on recent kernels), with the uptime",
        live=_kernel_log,
        params=KernelLogParams,
        offline=False,
        sos_note="sos keeps dmesg as a whole (sos_commands/kernel/dmesg), without the uptime",
        parser="engine.detectors.conntrack.parse_kernel_log",
    )
)
