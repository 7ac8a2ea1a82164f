"""Connection tracking on a router: is its table full, and are new flows dropped there?

Pure functions over parsed data: the table's fill (``nf_conntrack_count`` of the
namespace against the global ``nf_conntrack_max``), the per-CPU statistics of
``/proc/net/stat/nf_conntrack`` (hex columns, one row per CPU), the kernel's "table full"
messages (recent kernels name the namespace's inode: ``table full in netns N``), and the
SYNs of a new connection seen before the router and behind it.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from engine.errors import CloudtalesError
from engine.parsers.frame import Frame
from engine.results import CheckResult, Evidence, FactValue

TABLE_OUTCOMES = ("full_dropping", "full", "near_full", "room", "no_conntrack")
SYN_OUTCOMES = ("dropped_by_conntrack", "lost_elsewhere", "forwarded", "no_syns")
NEAR_FULL = 0.9  # of the maximum
RECENT_SECONDS = 600.0  # a kernel message older than this is history, not the fault
STAT_KEYS = ("drop", "insert_failed", "early_drop")

_NETNS = re.compile(r"net:\[(\d+)\]")
_KMSG = re.compile(r"^\[\s*(\d+\.\d+)\]\s.*table full(?: in netns (\d+))?", re.M)


@dataclass(frozen=True)
class Fill:
    count: int | None  # None: no nf_conntrack here (the files are missing)
    maximum: int | None
    netns: str  # the namespace's inode ("" if unknown)


def parse_fill(text: str) -> Fill:
    """``nf_conntrack_count=N``/``nf_conntrack_max=N``/``netns=net:[INODE]`` lines.

    >>> parse_fill("nf_conntrack_count=128\\nnf_conntrack_max=128\\nnetns=net:[4026532435]")
    Fill(count=128, maximum=128, netns='4026532435')
    """
    values = dict(ln.split("=", 1) for ln in text.splitlines() if "=" in ln)

    def num(key: str) -> int | None:
        v = values.get(key, "").strip()
        return int(v) if v.isdigit() else None

    ns = m.group(1) if (m := _NETNS.search(values.get("netns", ""))) else ""
    return Fill(num("nf_conntrack_count"), num("nf_conntrack_max"), ns)


def parse_stats(text: str, where: str = "/proc/net/stat/nf_conntrack") -> dict[str, int]:
    """The per-CPU hex rows summed by column name (``drop``, ``insert_failed``...)."""
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0][0] != "entries":
        raise CloudtalesError(f"{where}: no 'entries' header line")
    header = lines[0]
    totals = dict.fromkeys(header, 0)
    for row in lines[1:]:
        if len(row) != len(header):
            raise CloudtalesError(
                f"{where}: a row has {len(row)} columns, the header {len(header)}"
            )
        for key, value in zip(header, row, strict=True):
            totals[key] += int(value, 16)
    totals.pop("entries", None)  # the same global count on every row, not a sum
    return totals


@dataclass(frozen=True)
class KernelLog:
    uptime: float | None
    messages: tuple[tuple[float, str], ...]  # (seconds since boot, netns inode or "")

    def recent(self, netns: str, seconds: float = RECENT_SECONDS) -> list[float]:
        """Times of the messages about ``netns`` (or naming none) in the last ``seconds``."""
        if self.uptime is None:
            return []
        return [t for t, ns in self.messages if ns in ("", netns) and self.uptime - t <= seconds]


def parse_kernel_log(text: str) -> KernelLog:
    """The uptime line, then dmesg's "table full" lines.

    >>> log = parse_kernel_log("18480.5 9.0\\n[18476.066539] nf_conntrack: nf_conntrack: "
    ...                        "table full in netns 4026532435, dropping packet")
    >>> log.recent("4026532435"), log.recent("1")
    ([18476.066539], [])
    """
    first = text.split("\n", 1)[0].split()
    uptime = float(first[0]) if first and re.fullmatch(r"\d+(\.\d+)?", first[0]) else None
    found = tuple((float(m.group(1)), m.group(2) or "") for m in _KMSG.finditer(text))
    return KernelLog(uptime, found)


def judge_table(
    host: str, fill: Fill, stats: Mapping[str, int], kernel: list[float]
) -> CheckResult:
    if fill.count is None or fill.maximum is None:
        return CheckResult("no_conntrack", f"{host}: no nf_conntrack_count here (not loaded)")
    counters = {k: stats.get(k, 0) for k in STAT_KEYS}
    facts: dict[str, FactValue] = {
        "count": fill.count,
        "max": fill.maximum,
        "fill_percent": round(100 * fill.count / fill.maximum, 1) if fill.maximum else 0.0,
        **counters,
        "kernel_messages": len(kernel),
        "netns": fill.netns,
    }
    said = ", ".join(f"{k} {v}" for k, v in counters.items())
    table = f"{fill.count} of {fill.maximum} entries"
    msgs = (
        f"; {len(kernel)} 'table full' kernel messages in {RECENT_SECONDS:.0f} s" if kernel else ""
    )
    ev = [
        Evidence(
            f"conntrack on {host}",
            f"nf_conntrack_count={fill.count} (this namespace, net:[{fill.netns}])\n"
            f"nf_conntrack_max={fill.maximum} (global)\n/proc/net/stat/nf_conntrack: {said}",
            host,
        )
    ]
    if kernel:
        ev.append(Evidence("kernel: nf_conntrack: table full", f"{len(kernel)} messages", host))
    if fill.maximum and fill.count >= fill.maximum:
        if counters["drop"] > 0:
            summary = f"{host}: conntrack table full ({table}), {said}{msgs}"
            return CheckResult("full_dropping", summary, facts, ev)
        return CheckResult(
            "full", f"{host}: conntrack table full ({table}), no drop counted", facts, ev
        )
    if fill.maximum and fill.count >= NEAR_FULL * fill.maximum:
        return CheckResult("near_full", f"{host}: conntrack table nearly full ({table})", facts, ev)
    return CheckResult("room", f"{host}: conntrack table has room ({table}; {said})", facts, ev)


def tcp_syn_to(frame: Frame, target: str, port: int) -> bool:
    """A TCP SYN (not SYN-ACK) to ``target``:``port``."""
    if frame.ip_proto != 6 or frame.ip_dst != target:
        return False
    off = frame.l3_offset
    data = frame.data
    if len(data) < off + 20:
        return False
    ihl = (data[off] & 0x0F) * 4
    tcp = off + ihl
    if len(data) < tcp + 14:
        return False
    (dport,) = struct.unpack_from("!H", data, tcp + 2)
    flags = data[tcp + 13]
    return dport == port and flags & 0x02 != 0 and flags & 0x10 == 0


def judge_syns(
    before: str,
    sent: Sequence[Frame],
    behind: str,
    forwarded: Sequence[Frame],
    drop_delta: int,
    target: str,
    port: int,
) -> CheckResult:
    rows = [f"{before}: SYN {f.ip_src} > {target}:{port}" for f in sent[:10]]
    rows += [f"{behind}: SYN {f.ip_src} > {target}:{port}" for f in forwarded[:10]]
    facts: dict[str, FactValue] = {
        "syns_sent": len(sent),
        "syns_forwarded": len(forwarded),
        "drops_delta": drop_delta,
    }
    ev = (Evidence("SYNs before and behind the router", "\n".join(rows) or "no SYN"),)
    to = f"{target}:{port}"
    if not sent:
        return CheckResult("no_syns", f"no SYN to {to} seen at {before}", facts, ev)
    seen = f"{len(sent)} SYN{'s' if len(sent) > 1 else ''} to {to} at {before}"
    if forwarded:
        return CheckResult(
            "forwarded", f"{seen}, {len(forwarded)} behind the router at {behind}", facts, ev
        )
    if drop_delta > 0:
        summary = f"{seen}, none at {behind}; the router's conntrack drop counter +{drop_delta}"
        return CheckResult("dropped_by_conntrack", summary, facts, ev)
    summary = f"{seen}, none at {behind}; conntrack dropped nothing (drop counter +0)"
    return CheckResult("lost_elsewhere", summary, facts, ev)


def syns(frames: Iterable[Frame], target: str, port: int) -> list[Frame]:
    return [f for f in frames if tcp_syn_to(f, target, port)]
