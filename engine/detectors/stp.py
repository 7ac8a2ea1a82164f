"""Spanning-tree detectors for the Valentine's Day tale. Pure functions.

- ``detect_switch_log``: which switch ports BPDU guard (or another cause) err-disabled
  and have not been recovered since.
- ``detect_bpdu_capture``: who sent the BPDUs captured on a compute node: a guest (on
  a tap device, or an instance MAC leaving the uplink) or the host's own bridge.
- ``resolve_bpdu_sources``: source MAC -> bridge port (fdb) -> libvirt domain
  interface (mac, target dev) -> instance name and uuid, on a named compute host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.analyzers.stp import Bpdu
from engine.parsers.bridge_fdb import FdbEntry
from engine.parsers.libvirt_interfaces import DomainInfo
from engine.parsers.switch_log import SwitchEvent
from engine.results import CheckResult, Evidence, FactValue

SWITCH_LOG_OUTCOMES = ("bpduguard", "errdisabled_other", "link_down", "clean")
CAPTURE_OUTCOMES = ("guest_bpdus", "host_bpdus", "no_bpdus")
SOURCE_OUTCOMES = ("instance_found", "tap_only", "unknown_source")
OPENSTACK_OUI = "fa:16:3e"  # neutron/nova-network's default base_mac


# ---------------------------------------------------------------- switch logs


@dataclass
class PortState:
    port: str
    state: str = "up"  # up | down | errdisabled
    cause: str | None = None
    source_mac: str | None = None
    since: str | None = None
    bpduguard_hits: int = 0
    recovered: int = 0


def port_states(events: Sequence[SwitchEvent]) -> dict[str, PortState]:
    """Replay the events in order; the last word on each port wins."""
    ports: dict[str, PortState] = {}
    for ev in events:
        if ev.interface is None:
            continue
        p = ports.setdefault(ev.interface, PortState(ev.interface))
        if ev.kind in ("bpduguard", "errdisable"):
            if ev.kind == "bpduguard":
                p.bpduguard_hits += 1
            p.state, p.since = "errdisabled", ev.stamp
            p.cause = ev.cause or p.cause
            p.source_mac = ev.source_mac or p.source_mac
        elif ev.kind in ("recovery", "link_up"):
            if p.state == "errdisabled":
                p.recovered += 1
            if ev.kind == "link_up":
                p.state, p.cause, p.since = "up", None, ev.stamp
        elif ev.kind == "link_down" and p.state != "errdisabled":
            p.state, p.since = "down", ev.stamp
    return ports


def detect_switch_log(switch: str, events: Sequence[SwitchEvent]) -> CheckResult:
    ports = port_states(events)
    guarded = [p for p in ports.values() if p.state == "errdisabled" and p.cause == "bpduguard"]
    other = [p for p in ports.values() if p.state == "errdisabled" and p.cause != "bpduguard"]
    down = [p for p in ports.values() if p.state == "down"]
    lines = [
        ev.raw
        for ev in events
        if ev.kind in ("bpduguard", "errdisable", "recovery")
        or (ev.kind == "link_down" and ev.interface in {p.port for p in guarded + other + down})
    ]
    macs = sorted({p.source_mac for p in guarded if p.source_mac})
    facts: dict[str, FactValue] = {
        "errdisabled_ports": [
            f"{switch} {p.port} ({p.cause or 'unknown cause'})" for p in guarded + other
        ],
        "bpduguard_macs": list(macs),
        "down_ports": [f"{switch} {p.port}" for p in down],
        "events": len(events),
    }
    evidence = (Evidence(f"{switch}: log", "\n".join(lines[-12:]), switch),) if lines else ()
    if guarded:
        return CheckResult(
            "bpduguard",
            f"{switch}: BPDU guard err-disabled {', '.join(p.port for p in guarded)}"
            + (f" (BPDUs from {', '.join(macs)})" if macs else ""),
            facts,
            evidence,
        )
    if other:
        return CheckResult(
            "errdisabled_other",
            f"{switch}: err-disabled {', '.join(f'{p.port} ({p.cause})' for p in other)}",
            facts,
            evidence,
        )
    if down:
        return CheckResult(
            "link_down", f"{switch}: {', '.join(p.port for p in down)} down", facts, evidence
        )
    return CheckResult("clean", f"{switch}: no err-disabled or down ports in the log", facts)


# ---------------------------------------------------------------- captures


def is_openstack_mac(mac: str) -> bool:
    return mac.lower().startswith(OPENSTACK_OUI)


def detect_bpdu_capture(
    host: str,
    bpdus: Mapping[str, Sequence[Bpdu]],
    guest_ifaces: Sequence[str],
    host_macs: Mapping[str, str],
) -> CheckResult:
    """``bpdus``: capture point (interface) -> BPDUs sent towards the switch there.
    ``guest_ifaces``: the points that face a guest (tap devices). ``host_macs``: the
    compute's own MAC -> interface, to tell its own bridges from guests."""
    by_iface: dict[str, list[str]] = {}
    senders: dict[str, str] = {}  # mac -> "guest" | "host"
    kinds: dict[str, int] = {}
    examples: list[str] = []
    for iface, items in bpdus.items():
        for b in items:
            macs = by_iface.setdefault(iface, [])
            if b.src_mac not in macs:
                macs.append(b.src_mac)
                examples.append(f"{iface}: {b.describe()}")
            kinds[b.kind] = kinds.get(b.kind, 0) + 1
            own = host_macs.get(b.src_mac)
            guest = iface in guest_ifaces or (own is None and b.src_mac != "")
            if senders.get(b.src_mac) != "guest":
                senders[b.src_mac] = "guest" if guest else "host"
    total = sum(kinds.values())
    guests = sorted(m for m, who in senders.items() if who == "guest")
    hosts = sorted(m for m, who in senders.items() if who == "host")
    host_bridges = [f"{m} ({host_macs[m]})" for m in hosts]
    facts: dict[str, FactValue] = {
        "bpdu_count": total,
        "bpdu_kinds": dict(sorted(kinds.items())),
        "source_macs": guests,
        "host_bridge_macs": list(host_bridges),
        "by_iface": dict(sorted(by_iface.items())),
        "capture_points": sorted(bpdus),
    }
    evidence = (Evidence("BPDUs captured", "\n".join(examples), host),) if examples else ()
    kind_text = ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items()))
    if guests:
        where = sorted(i for i, macs in by_iface.items() if set(macs) & set(guests))
        tag = [" (OpenStack MAC)" if is_openstack_mac(m) else "" for m in guests]
        return CheckResult(
            "guest_bpdus",
            f"{host}: {total} BPDU(s) ({kind_text}) from "
            + ", ".join(m + t for m, t in zip(guests, tag, strict=True))
            + f" on {', '.join(where)}",
            facts,
            evidence,
        )
    if hosts:
        return CheckResult(
            "host_bpdus",
            f"{host}: the host's own bridge sends BPDUs ({kind_text}) from "
            + ", ".join(host_bridges),
            facts,
            evidence,
        )
    points = ", ".join(sorted(bpdus)) or "nothing"
    return CheckResult("no_bpdus", f"{host}: no BPDUs sent on {points}", facts, evidence)


# ---------------------------------------------------------------- identity


@dataclass(frozen=True)
class SourceMatch:
    mac: str
    ports: tuple[str, ...]  # bridge ports that learned the MAC (fdb)
    seen_on: tuple[str, ...]  # capture points where its BPDUs showed up
    domain: DomainInfo | None
    target: str | None  # the domain interface's target dev
    bridge: str | None

    @property
    def tap(self) -> str | None:
        """The guest-facing device: the domain's target dev, else the fdb port."""
        taps = [p for p in (self.target, *self.ports) if p]
        return taps[0] if taps else None

    def consistent(self) -> bool:
        """Every layer that names a device names the same one."""
        named = {p for p in (self.target, *self.ports) if p}
        return len(named) <= 1


def match_sources(
    macs: Sequence[str],
    seen_on: Mapping[str, Sequence[str]],
    fdb: Sequence[FdbEntry],
    domains: Sequence[DomainInfo],
    uplinks: Sequence[str] = (),
) -> list[SourceMatch]:
    """``uplinks``: ports that face the switch (a MAC learned there is remote)."""
    by_mac_nic = {nic.mac: (d, nic) for d in domains for nic in d.nics}
    found = []
    for mac in macs:
        mac = mac.lower()
        ports = tuple(
            sorted({e.port for e in fdb if e.mac == mac and e.learned and e.port not in uplinks})
        )
        where = tuple(sorted(i for i, ms in seen_on.items() if mac in [m.lower() for m in ms]))
        dom_nic = by_mac_nic.get(mac)
        if dom_nic is None:  # the MAC may be a guest bridge's own: fall back to the port
            for d in domains:
                for nic in d.nics:
                    if nic.target and (nic.target in ports or nic.target in where):
                        dom_nic = (d, nic)
        found.append(
            SourceMatch(
                mac=mac,
                ports=ports,
                seen_on=where,
                domain=dom_nic[0] if dom_nic else None,
                target=dom_nic[1].target if dom_nic else None,
                bridge=dom_nic[1].bridge if dom_nic else None,
            )
        )
    return found


def resolve_bpdu_sources(
    host: str,
    compute: str,
    macs: Sequence[str],
    seen_on: Mapping[str, Sequence[str]],
    fdb: Sequence[FdbEntry],
    domains: Sequence[DomainInfo],
    domain_source: str,
    uplinks: Sequence[str] = (),
) -> CheckResult:
    matches = match_sources(macs, seen_on, fdb, domains, uplinks)
    named = [m for m in matches if m.domain is not None]
    lines = []
    for m in matches:
        chain = [f"BPDU source {m.mac}"]
        if m.seen_on:
            chain.append(f"captured on {', '.join(m.seen_on)}")
        if m.ports:
            chain.append(f"fdb: learned on {', '.join(m.ports)}")
        if m.domain is not None:
            chain.append(f"libvirt: {m.domain.name} interface {m.target} ({m.bridge})")
            chain.append(
                f"instance {m.domain.display_name or m.domain.name} uuid {m.domain.uuid}"
                + (
                    f" owner {m.domain.owner_user}/{m.domain.owner_project}"
                    if m.domain.owner_user
                    else ""
                )
            )
            chain.append(f"compute {compute}")
            if not m.consistent():
                chain.append("LAYERS DISAGREE on the device")
        else:
            chain.append(f"no libvirt domain on {compute} has this MAC or port")
        lines.append(" -> ".join(chain))
    doms = {m.domain.name: m.domain for m in named if m.domain is not None}
    facts: dict[str, FactValue] = {
        "instance": ", ".join(d.display_name or d.name for d in doms.values()) or None,
        "instance_domain": ", ".join(doms) or None,
        "instance_uuid": ", ".join(d.uuid or "?" for d in doms.values()) or None,
        "instance_owner": ", ".join(
            f"{d.owner_user}/{d.owner_project}" for d in doms.values() if d.owner_user
        )
        or None,
        "tap": ", ".join(sorted({m.tap for m in matches if m.tap})) or None,
        "mac": ", ".join(m.mac for m in matches) or None,
        "compute": compute,
        "chain": lines,
        "domains_known": len(domains),
        "domain_source": domain_source,
    }
    evidence = (Evidence("BPDU source -> instance", "\n".join(lines), host),) if lines else ()
    if doms:
        return CheckResult(
            "instance_found",
            f"{host}: BPDUs come from instance {facts['instance']} "
            f"({facts['instance_domain']}, uuid {facts['instance_uuid']}) "
            f"on {facts['tap']}, compute {compute}",
            facts,
            evidence,
        )
    if facts["tap"]:
        return CheckResult(
            "tap_only",
            f"{host}: BPDUs come in on {facts['tap']}, but no libvirt domain "
            f"({len(domains)} known) owns it",
            facts,
            evidence,
        )
    return CheckResult(
        "unknown_source",
        f"{host}: no port or domain owns {facts['mac'] or 'the BPDU sources'}",
        facts,
        evidence,
    )
