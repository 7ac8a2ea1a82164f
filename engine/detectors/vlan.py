"""VLAN detectors, pure functions over parsed data: a VLAN device stacked on a VLAN device,
what nova's ``vlan_interface`` points at, and the judgement of a capture on several
points (tag depth, stacks, oversize frames, the hop that adds a tag)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from engine.analyzers.correlate import correlate
from engine.analyzers.vlan import analyze_vlan
from engine.parsers.iplink import LinkInfo
from engine.parsers.pcap import Frame
from engine.results import CheckResult, Evidence

LINK_OUTCOMES = ("vlan_on_vlan", "vlan_on_base", "no_vlan_devices")
VLAN_IFACE_OUTCOMES = ("is_vlan_device", "is_base_device", "unset")

_VLAN_NAME = re.compile(r"^(vlan\d+|.+\.\d+)$")


def detect_vlan_stacking(host: str, links: Sequence[LinkInfo]) -> CheckResult:
    vlans = [link for link in links if link.is_vlan]
    by_name = {link.ifname: link for link in links}
    stacked = [v for v in vlans if v.parent in by_name and by_name[v.parent].is_vlan]
    facts = {
        "vlan_devices": [v.label for v in vlans],
        "stacked_devices": [v.label for v in stacked],
    }
    if stacked:
        lines = "\n".join(
            f"{v.label}: VLAN {v.vlan_id} on {v.parent}"
            f" (itself VLAN {by_name[v.parent or ''].vlan_id})"
            + (f", master {v.master}" if v.master else "")
            for v in stacked
        )
        return CheckResult(
            "vlan_on_vlan",
            f"{host}: {stacked[0].label} is a VLAN on a VLAN",
            facts,
            (Evidence("ip -d link: VLAN on VLAN", lines, host),),
        )
    if vlans:
        lines = "\n".join(f"{v.label}: VLAN {v.vlan_id}" for v in vlans)
        return CheckResult(
            "vlan_on_base",
            f"{host}: {len(vlans)} VLAN device(s), none stacked",
            facts,
            (Evidence("ip -d link: VLAN devices", lines, host),),
        )
    return CheckResult(
        "no_vlan_devices", f"{host}: no kernel VLAN devices (tags may be added elsewhere)", facts
    )


def looks_like_vlan(name: str) -> bool:
    return bool(_VLAN_NAME.match(name))


def classify_vlan_interface(
    host: str, source: str, value: str | None, vlan_devices: Sequence[str] = ()
) -> CheckResult:
    """nova-network VlanManager creates tenant VLANs on ``vlan_interface``: it must be the
    base NIC or bond; a VLAN device there stacks every tenant tag on top of another tag."""
    known = {d.split("@", 1)[0] for d in vlan_devices}
    if not value:
        return CheckResult(
            "unset", f"{host}: vlan_interface is not set in {source}", {"vlan_interface": None}
        )
    facts = {"vlan_interface": value}
    line = Evidence(f"{source}", f"vlan_interface={value}", host)
    if value in known or looks_like_vlan(value):
        why = "a VLAN device on this host" if value in known else "named like a VLAN device"
        return CheckResult(
            "is_vlan_device",
            f"{host}: vlan_interface={value} is {why}; tenant VLANs stack on it",
            facts,
            (line,),
        )
    return CheckResult(
        "is_base_device", f"{host}: vlan_interface={value} (a base device)", facts, (line,)
    )


CAPTURE_OUTCOMES = ("stacked", "single", "untagged", "no_frames")


def judge_vlan_capture(
    frames: Mapping[str, Sequence[Frame]],
    mtu: int,
    ping_output: str = "",
    offload_warnings: Sequence[str] = (),
) -> CheckResult:
    """Tag depth, stacks and wire sizes at each capture point (in path order), and which
    hop adds a tag: ``stacked`` when any frame carries two tags or more."""
    per_point = {label: analyze_vlan(got, mtu) for label, got in frames.items()}
    overall = analyze_vlan((f for got in frames.values() for f in got), mtu)
    hops = correlate(frames, list(frames))
    outcome = overall.verdict()
    stacks = {"/".join(map(str, k)): v for k, v in sorted(overall.stacks.items())}
    stacked_at = [label for label, f in per_point.items() if f.max_depth >= 2]
    lines = [f"{label}: {f.summary_line()}" for label, f in per_point.items()]
    evidence = [Evidence("frames by capture point", "\n".join(lines))]
    if hops.lines():
        evidence.append(Evidence("same packet at each hop", "\n".join(hops.lines())))
    if offload_warnings:
        evidence.append(Evidence("VLAN offload (ethtool -k)", "\n".join(offload_warnings)))
    lost = lost_ping_sizes(ping_output)
    if lost:
        evidence.append(Evidence("pings lost", "sizes: " + ", ".join(lost)))
    summary = {
        "stacked": (
            f"frames carry {overall.max_depth} VLAN tags ({', '.join(stacks)})"
            f" at {', '.join(stacked_at)}"
        ),
        "single": "frames carry one VLAN tag: no stacking",
        "untagged": "frames are untagged at every capture point",
        "no_frames": "no frames captured",
    }[outcome]
    return CheckResult(
        outcome,
        summary,
        {
            "max_tag_depth": overall.max_depth,
            "stacks": stacks,
            "oversize_frames": overall.oversize,
            "stacked_at": stacked_at,
            "first_stacking_hop": hops.first_stacking_point,
            "frames": {label: len(got) for label, got in frames.items()},
            "vlan_offload_warnings": list(offload_warnings),
        },
        evidence,
        [hops.table()] if hops.packets else [],
    )


def lost_ping_sizes(ping_output: str) -> list[str]:
    """Sizes whose pings got no reply, from lines ``SIZE EXIT_STATUS``.

    >>> lost_ping_sizes("56 0\\n1472 1\\n")
    ['1472']
    """
    return [ln.split()[0] for ln in ping_output.splitlines() if ln.split()[1:] != ["0"]]
