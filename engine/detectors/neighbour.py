"""The neighbour (ARP) table on a network node: is it over its limit, and can the node
still resolve an instance?

Pure functions over parsed data: the kernel's table (``ip -s ntable show name
arp_cache``: the global ``gc_thresh1/2/3``, the ``entries`` of every namespace, the
``forced_gc_runs`` and ``table_fulls`` counters), read twice to see the counters climb;
one namespace's entries (``ip -4 neigh show``); the kernel's "neighbor table overflow"
messages; ARP on the node's tenant-side capture while a host outside pings an instance.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from engine.detectors.conntrack import RECENT_SECONDS, KernelLog
from engine.errors import CloudtalesError
from engine.parsers.frame import Frame
from engine.results import CheckResult, Evidence, FactValue

TABLE_OUTCOMES = ("overflowing", "full", "near_full", "room")
RESOLVE_OUTCOMES = ("unresolved_overflow", "unresolved", "resolved_but_lost", "answered")
SAMPLE_SEPARATOR = "--- cloudtales: second read ---"
USABLE = {"REACHABLE", "STALE", "DELAY", "PROBE", "PERMANENT", "NOARP"}
ETH_P_ARP = 0x0806

_NUM = re.compile(r"\b(thresh1|thresh2|thresh3|entries|forced_gc_runs|table_fulls)\s+(\d+)")
_KMSG = re.compile(r"^\[\s*(\d+\.\d+)\]\s.*neighbor table overflow", re.M)


@dataclass(frozen=True)
class NeighTable:
    thresh1: int
    thresh2: int
    thresh3: int
    entries: int
    forced_gc_runs: int
    table_fulls: int


def parse_ntable(text: str, where: str = "ip -s ntable show name arp_cache") -> NeighTable:
    """The table-wide block (the first one, with the thresholds and the statistics).

    >>> parse_ntable("inet arp_cache\\n thresh1 16 thresh2 32 thresh3 64 gc_int 30000\\n"
    ...              " config key_len 4 entry_size 336 entries 81\\n"
    ...              " periodic_gc_runs 1653 forced_gc_runs 989\\n table_fulls 981\\n")
    NeighTable(thresh1=16, thresh2=32, thresh3=64, entries=81, forced_gc_runs=989, table_fulls=981)
    """
    block = text.split("\n\n", 1)[0]
    values = {k: int(v) for k, v in _NUM.findall(block)}
    # every field is needed: a missing counter must not read as "nothing refused"
    missing = [k for k in NeighTable.__dataclass_fields__ if k not in values]
    if missing:
        raise CloudtalesError(f"{where}: no {', '.join(missing)} in the arp_cache block")
    return NeighTable(**{k: values[k] for k in NeighTable.__dataclass_fields__})


def parse_ntable_samples(text: str, where: str = "ip -s ntable") -> list[NeighTable]:
    """One or two reads (the ``neigh_table`` source with an interval)."""
    return [parse_ntable(part, where) for part in text.split(SAMPLE_SEPARATOR) if part.strip()]


@dataclass(frozen=True)
class NeighEntry:
    dst: str
    dev: str
    state: str  # REACHABLE, STALE, INCOMPLETE, FAILED, PERMANENT...


def parse_neigh(text: str) -> list[NeighEntry]:
    """``ip -4 neigh show`` lines: ``IP dev DEV [lladdr MAC] [router] STATE``.

    >>> parse_neigh("10.0.100.5 dev brq-tenant INCOMPLETE\\n"
    ...             "10.0.100.100 dev brq-tenant lladdr f2:ac:1a:a5:ce:79 REACHABLE\\n")[0]
    NeighEntry(dst='10.0.100.5', dev='brq-tenant', state='INCOMPLETE')
    """
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1] == "dev" and parts[-1].isupper():
            out.append(NeighEntry(parts[0], parts[2], parts[-1]))
    return out


def parse_overflow_log(text: str) -> KernelLog:
    """The uptime line, then dmesg's "neighbor table overflow!" lines (the kernel does
    not say which namespace: the table is one for all of them).

    >>> log = parse_overflow_log("25145.92 1.0\\n[25142.644726] neighbour: arp_cache: "
    ...                          "neighbor table overflow!")
    >>> log.recent("")
    [25142.644726]
    """
    first = text.split("\n", 1)[0].split()
    uptime = float(first[0]) if first and re.fullmatch(r"\d+(\.\d+)?", first[0]) else None
    return KernelLog(uptime, tuple((float(m.group(1)), "") for m in _KMSG.finditer(text)))


def states(entries: Sequence[NeighEntry]) -> str:
    counts = Counter(e.state for e in entries)
    return ", ".join(f"{n} {s}" for s, n in counts.most_common()) or "none"


def judge_table(
    host: str, first: NeighTable, last: NeighTable, own: Sequence[NeighEntry], kernel: list[float]
) -> CheckResult:
    fulls = last.table_fulls - first.table_fulls
    forced = last.forced_gc_runs - first.forced_gc_runs
    facts: dict[str, FactValue] = {
        "thresh1": last.thresh1,
        "thresh2": last.thresh2,
        "thresh3": last.thresh3,
        "entries": last.entries,
        "table_fulls": last.table_fulls,
        "table_fulls_delta": fulls,
        "forced_gc_delta": forced,
        "own_entries": len(own),
        "own_states": states(own),
        "kernel_messages": len(kernel),
    }
    table = f"{last.entries} entries, gc_thresh3 {last.thresh3}"
    during = f"table_fulls +{fulls}, forced_gc_runs +{forced} while watched"
    ev = [
        Evidence(
            f"ARP table seen from {host}",
            f"gc_thresh1/2/3 {last.thresh1}/{last.thresh2}/{last.thresh3} (global)\n"
            f"entries {first.entries} -> {last.entries} (every namespace's)\n"
            f"table_fulls {first.table_fulls} -> {last.table_fulls}, "
            f"forced_gc_runs {first.forced_gc_runs} -> {last.forced_gc_runs}\n"
            f"{host}'s own entries: {len(own)} ({states(own)})",
            host,
        )
    ]
    if kernel:
        ev.append(Evidence("kernel: neighbor table overflow", f"{len(kernel)} messages", host))
    msgs = (
        f"; {len(kernel)} 'neighbor table overflow' kernel messages in {RECENT_SECONDS:.0f} s"
        if kernel
        else ""
    )
    if last.entries >= last.thresh3 and fulls > 0:
        summary = f"{host}: ARP table over its limit ({table}), {during}{msgs}"
        return CheckResult("overflowing", summary, facts, ev)
    if last.entries >= last.thresh3:
        return CheckResult("full", f"{host}: ARP table at its limit ({table}), {during}", facts, ev)
    if last.entries >= last.thresh2:
        summary = f"{host}: ARP table above gc_thresh2 ({table}, gc_thresh2 {last.thresh2})"
        return CheckResult("near_full", summary, facts, ev)
    return CheckResult("room", f"{host}: ARP table has room ({table}; {during})", facts, ev)


@dataclass(frozen=True)
class Arp:
    op: int  # 1 request, 2 reply
    sender_ip: str
    target_ip: str


def arp_of(frame: Frame) -> Arp | None:
    """An Ethernet/IPv4 ARP packet's operation and addresses."""
    if frame.ethertype != ETH_P_ARP:
        return None
    off, data = frame.l3_offset, frame.data
    if len(data) < off + 28 or data[off + 4] != 6 or data[off + 5] != 4:
        return None
    op = int.from_bytes(data[off + 6 : off + 8], "big")
    sender = ".".join(str(b) for b in data[off + 14 : off + 18])
    target = ".".join(str(b) for b in data[off + 24 : off + 28])
    return Arp(op, sender, target)


def judge_resolution(
    target: str,
    probes: Sequence[bool],
    arps: Sequence[Arp],
    entry: NeighEntry | None,
    fulls_delta: int,
    where: str,
) -> CheckResult:
    asked = sum(1 for a in arps if a.op == 1 and a.target_ip == target)
    answered = sum(1 for a in arps if a.op == 2 and a.sender_ip == target)
    lost = sum(1 for ok in probes if not ok)
    state = entry.state if entry else "no entry"
    facts: dict[str, FactValue] = {
        "probes": len(probes),
        "lost": lost,
        "arp_requests": asked,
        "arp_replies": answered,
        "router_entry": state,
        "table_fulls_delta": fulls_delta,
        "other_arp": len(arps) - asked - answered,
    }
    said = (
        f"{lost} of {len(probes)} pings to {target} lost; the router's entry for it: {state}; "
        f"ARP at {where}: {asked} who-has {target}, {answered} replies "
        f"({len(arps) - asked - answered} for other addresses); table_fulls +{fulls_delta}"
    )
    ev = (Evidence(f"resolving {target}", said.replace("; ", "\n")),)
    if lost == 0:
        return CheckResult("answered", said, facts, ev)
    if entry is not None and entry.state in USABLE:
        return CheckResult("resolved_but_lost", said, facts, ev)
    if fulls_delta > 0 and answered == 0:
        return CheckResult("unresolved_overflow", said, facts, ev)
    return CheckResult("unresolved", said, facts, ev)
