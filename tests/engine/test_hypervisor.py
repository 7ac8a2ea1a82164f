"""Tap drops, qemu versions against the known-bad table, and ethtool VLAN offload."""

from __future__ import annotations

import json

import pytest

from engine.detectors.hypervisor import LP_997978, judge_qemu_versions, judge_tap
from engine.errors import CloudtalesError
from engine.parsers.ethtool import parse_ethtool_features, vlan_offload, vlan_offload_warning
from engine.parsers.iplink import LinkInfo, parse_ip_link
from engine.parsers.qemu_version import parse_versions

ETHTOOL = """\
Features for bond0:
rx-checksumming: on
tx-checksumming: on
\ttx-checksum-ipv4: off [fixed]
rx-vlan-offload: on
tx-vlan-offload: off [requested on]
rx-vlan-filter: on [fixed]
"""


def tap(packets: int, size: int, dropped: int) -> LinkInfo:
    tx = {"bytes": size, "packets": packets, "dropped": dropped}
    doc = [{"ifindex": 5, "ifname": "tap0", "mtu": 1500, "operstate": "UNKNOWN",
            "flags": ["UP"], "master": "br100",
            "stats64": {"rx": {"bytes": 10, "packets": 1, "dropped": 0}, "tx": tx}}]  # fmt: skip
    return parse_ip_link(json.dumps(doc), "test")[0]


def test_tap_drops_now_before_and_none() -> None:
    out = judge_tap("compute", "tap0", tap(100, 150_000, 10), tap(100, 150_000, 7210), 2.0)
    assert out.outcome == "drops_now"
    assert out.summary == (
        "compute: tap0 dropped 7200 frames for the guest in 2 s (100% of the 3600 frames/s "
        "offered, 0.0 MB/s delivered): the guest is not taking frames off its tap"
    )
    assert out.facts["offered_packets_per_s"] == 3600  # the load, dropped or not
    assert (out.facts["tx_dropped"], out.facts["tx_dropped_delta"]) == (7210, 7200)
    assert out.facts["master"] == "br100"
    assert "TX dropped" in out.evidence[0].text
    before = judge_tap("compute", "tap0", tap(100, 1000, 10), tap(100, 1000, 10), 2.0)
    assert before.outcome == "drops_before"
    healthy = judge_tap("compute", "tap0", tap(0, 0, 0), tap(7000, 10_000_000, 0), 2.0)
    assert (healthy.outcome, healthy.facts["to_guest_bytes_per_s"]) == ("no_drops", 5_000_000)
    assert healthy.facts["offered_packets_per_s"] == 3500


def test_qemu_versions_known_bad_not_listed_not_installed() -> None:
    bad = parse_versions(
        "bin kvm: QEMU emulator version 1.0 (qemu-kvm-1.0), Copyright (c) 2003-2008\n"
        "pkg qemu-kvm|1.0+noroms-0ubuntu13|ii \nkernel 3.2.0-29-generic\n"
    )
    out = judge_qemu_versions("compute", bad)
    assert out.outcome == "known_bad"
    assert out.summary == (
        "compute: package qemu-kvm 1.0+noroms-0ubuntu13 is known to lose bridged networking "
        "under load (LP #997978)"
    )
    assert out.facts["bug_links"] == [LP_997978]
    assert out.facts["kernel"] == "3.2.0-29-generic"
    binary_only = parse_versions("bin kvm: QEMU emulator version 1.0 (qemu-kvm-1.0)\n")
    assert judge_qemu_versions("c", binary_only).outcome == "known_bad"
    modern = parse_versions(
        "bin qemu-system-x86_64: QEMU emulator version 7.2.11 (Debian 1:7.2+dfsg-7+deb12u6)\n"
        "pkg qemu-system-x86|1:7.2+dfsg-7+deb12u6|ii \npkg qemu-kvm||un \nkernel 6.1.0-18-amd64\n"
    )
    assert modern.packages == {"qemu-system-x86": "1:7.2+dfsg-7+deb12u6"}
    out = judge_qemu_versions("compute", modern)
    assert out.outcome == "not_listed"
    assert out.summary.startswith("compute: qemu-system-x86_64: QEMU emulator version 7.2.11")
    none = judge_qemu_versions("compute", parse_versions("kernel 6.18.44\n"))
    assert (none.outcome, none.facts["qemu"]) == ("not_installed", [])
    assert none.summary == (
        "compute: no qemu/kvm binary or package found (kernel 6.18.44): versions cannot be compared"
    )
    assert parse_versions("garbage\nbin broken\n").has_qemu is False


def test_ethtool_vlan_offload() -> None:
    features = parse_ethtool_features(ETHTOOL, "bond0")
    assert vlan_offload(features) == {"rx-vlan-offload": True, "tx-vlan-offload": False}
    assert features["rx-vlan-filter"].fixed
    assert features["tx-checksum-ipv4"].on is False
    warning = vlan_offload_warning("bond0", features)
    assert warning is not None
    assert warning.startswith("bond0: rx-vlan-offload on: VLAN tags travel as metadata")
    off = parse_ethtool_features("rx-vlan-offload: off\ntx-vlan-offload: off\n")
    assert vlan_offload_warning("eth0", off) is None
    with pytest.raises(CloudtalesError, match=r"^eth9: no offload features in the output"):
        parse_ethtool_features("Cannot get device feature names: No such device\n", "eth9")
    with pytest.raises(CloudtalesError, match="no output"):
        parse_ethtool_features("", "eth9")
