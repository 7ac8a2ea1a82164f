"""``ethtool -k IFACE``: offload features, and whether VLAN offload can hide tags.

With ``rx-vlan-offload`` on, the NIC strips the 802.1Q tag on receive and hands it
to the kernel as metadata; with ``tx-vlan-offload`` the kernel hands the tag to the
NIC to insert. Either way the tag is not in the packet bytes the kernel holds, so
what a capture shows depends on the capture point and on libpcap: a capture on the
VLAN device never shows the tag, and tools that read raw bytes (an old libpcap, a
tc/BPF tap) miss it on the parent too. A read-only helper, so captures can warn.

>>> f = parse_ethtool_features("Features for eth0:\\nrx-vlan-offload: on\\n"
...     "tx-vlan-offload: on [fixed]\\nrx-checksumming: off\\n")
>>> f["tx-vlan-offload"], vlan_offload_warning("eth0", f) is not None
(Feature(on=True, fixed=True), True)
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from engine.errors import CloudtalesError

VLAN_FEATURES = ("rx-vlan-offload", "tx-vlan-offload")


@dataclass(frozen=True)
class Feature:
    on: bool
    fixed: bool = False  # "[fixed]": the driver does not let it change


def ethtool_command(iface: str) -> str:
    return f"ethtool -k {shlex.quote(iface)}"


def parse_ethtool_features(text: str, source: str = "ethtool -k") -> dict[str, Feature]:
    """Feature name -> state. Lines that are not ``name: on|off [...]`` are skipped;
    output with no feature at all (an error message) is a one-line error."""
    features: dict[str, Feature] = {}
    for line in text.splitlines():
        name, sep, rest = line.strip().partition(":")
        words = rest.split()
        if not sep or not name or " " in name or not words or words[0] not in ("on", "off"):
            continue
        features[name] = Feature(words[0] == "on", "[fixed]" in rest)
    if not features:
        said = text.strip().splitlines()[0] if text.strip() else "no output"
        raise CloudtalesError(f"{source}: no offload features in the output ({said[:120]})")
    return features


def vlan_offload(features: Mapping[str, Feature]) -> dict[str, bool]:
    return {name: features[name].on for name in VLAN_FEATURES if name in features}


def vlan_offload_warning(iface: str, features: Mapping[str, Feature]) -> str | None:
    """A sentence for the operator when VLAN offload is on, else None."""
    on = [name for name, enabled in vlan_offload(features).items() if enabled]
    if not on:
        return None
    return (
        f"{iface}: {' and '.join(on)} on: VLAN tags travel as metadata, not in the packet "
        "bytes; a capture on a VLAN device, or a tool reading raw bytes, may not show them "
        f"(`ethtool -K {iface} rxvlan off txvlan off` while capturing, if the driver allows)"
    )
