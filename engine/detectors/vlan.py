"""VLAN configuration detectors: a VLAN device stacked on a VLAN device, and what
nova's ``vlan_interface`` points at. Pure functions over parsed data."""

from __future__ import annotations

import re
from collections.abc import Sequence

from engine.parsers.iplink import LinkInfo
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
