"""BPDU decoding (STP, RSTP, MSTP, TCN, PVST+, Rapid-PVST+, malformed and truncated ones,
built with scapy), the bonding status parser, switch logs, libvirt interfaces, the fdb,
and the Valentine's Day detectors. No lab needed."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from scapy.all import LLC, SNAP, STP, Dot1Q, Dot3, Ether, Packet, Raw, wrpcap

from engine.analyzers.capture_report import run_analyze
from engine.analyzers.stp import Bpdu, analyze_bpdus, decode_bpdu
from engine.detectors.base import merge_outcomes
from engine.detectors.bond import detect_bond
from engine.detectors.stp import detect_bpdu_capture, detect_switch_log, resolve_bpdu_sources
from engine.errors import CloudtalesError
from engine.parsers.bridge_fdb import parse_bridge_fdb
from engine.parsers.iplink import parse_ip_link
from engine.parsers.libvirt_interfaces import parse_domain_xml, split_head_output
from engine.parsers.pcap import LINKTYPE_LINUX_SLL, decode_frame, read_capture
from engine.parsers.proc_bonding import parse_proc_bonding
from engine.parsers.switch_log import normalize_mac, parse_switch_log

GUEST = "fa:16:3e:24:e7:22"
SWITCH = "00:1c:73:aa:bb:01"
STP_DST, PVST_DST = "01:80:c2:00:00:00", "01:00:0c:cc:cc:cd"


# ---------------------------------------------------------------- BPDUs built with scapy


def stp(src: str = GUEST, **fields: object) -> Packet:
    body = STP(rootid=32768, rootmac=src, bridgeid=32768, bridgemac=src, portid=0x8001)
    for k, v in fields.items():
        setattr(body, k, v)
    return Dot3(dst=STP_DST, src=src) / LLC(dsap=0x42, ssap=0x42, ctrl=3) / body


def rstp(src: str = SWITCH, flags: int = 0x3C) -> Packet:
    body = STP(version=2, bpdutype=2, bpduflags=flags, rootid=4096 + 1, rootmac=SWITCH,
               bridgeid=32768 + 1, bridgemac=src, pathcost=2000, portid=0x8023)  # fmt: skip
    return Dot3(dst=STP_DST, src=src) / LLC(dsap=0x42, ssap=0x42, ctrl=3) / body / Raw(b"\x00")


def mstp(src: str = SWITCH) -> Packet:
    body = STP(version=3, bpdutype=2, bpduflags=0x7C, rootid=32768, rootmac=src,
               bridgeid=32768, bridgemac=src, portid=0x8001)  # fmt: skip
    # version 1 length 0, version 3 length 64, MST config id, CIST internal cost/id/hops
    tail = b"\x00" + struct.pack("!H", 64) + b"\x00" + b"region1".ljust(32, b"\x00")
    tail += b"\x00\x00" + b"\x11" * 16 + b"\x00" * 4 + b"\x80\x00" + bytes(6) + b"\x14"
    return Dot3(dst=STP_DST, src=src) / LLC(dsap=0x42, ssap=0x42, ctrl=3) / body / Raw(tail)


def tcn(src: str = GUEST) -> Packet:
    return Dot3(dst=STP_DST, src=src) / LLC(dsap=0x42, ssap=0x42, ctrl=3) / Raw(b"\x00\x00\x00\x80")


def pvst(vlan: int = 100, rapid: bool = False, tlv: bytes | None = None) -> Packet:
    body = STP(version=2 if rapid else 0, bpdutype=2 if rapid else 0, rootid=32768 + vlan,
               rootmac=SWITCH, bridgeid=32768 + vlan, bridgemac=SWITCH, portid=0x8005)  # fmt: skip
    # (R)PVST+: the originating-VLAN TLV sits at offset 36 of the BPDU
    pad = b"\x00"  # config: a zero octet; rapid: the version 1 length (0)
    tail = pad + (tlv if tlv is not None else struct.pack("!HHH", 0, 2, vlan))
    snap = LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0x00000C, code=0x010B)
    return Dot3(dst=PVST_DST, src=SWITCH) / snap / body / Raw(tail)


def decode(pkt: Packet | bytes) -> Bpdu:
    raw = bytes(pkt)
    frame = decode_frame(raw, 1.0, max(len(raw), 60))
    assert frame is not None
    assert frame.is_bpdu
    b = decode_bpdu(frame)
    assert b is not None
    return b


def test_linux_bridge_config_bpdu_is_decoded_field_by_field() -> None:
    b = decode(stp())
    assert (b.kind, b.version, b.bpdu_type, b.problem) == ("STP", 0, 0, None)
    assert str(b.root) == str(b.bridge) == f"32768.0.{GUEST}"
    assert (b.root_path_cost, b.port_id) == (0, 0x8001)
    assert (b.message_age, b.max_age, b.hello_time, b.forward_delay) == (1.0, 20.0, 2.0, 15.0)
    assert b.src_mac == GUEST
    assert b.describe().startswith(f"STP conf from {GUEST}: root 32768.0.{GUEST} cost 0")


def test_rstp_flags_and_role() -> None:
    b = decode(rstp(flags=0x3C | 0x01))  # designated, learning, forwarding, TC
    assert (b.kind, b.problem) == ("RSTP", None)
    assert b.flag_names == ["TC", "role designated", "learning", "forwarding"]
    assert str(b.root) == f"4096.1.{SWITCH}"
    assert b.bridge is not None
    assert (b.bridge.priority, b.bridge.sys_id_ext) == (32768, 1)
    assert "flags TC/learning/forwarding" in b.describe()


def test_mstp_and_tcn() -> None:
    assert (decode(mstp()).kind, decode(mstp()).problem) == ("MSTP", None)
    t = decode(tcn())
    assert (t.kind, t.is_tcn, t.root, t.problem) == ("STP TCN", True, None, None)
    assert t.describe() == f"STP TCN TCN from {GUEST}"


@pytest.mark.parametrize(("rapid", "kind"), [(False, "PVST+"), (True, "Rapid-PVST+")])
def test_pvst_plus_carries_its_vlan(rapid: bool, kind: str) -> None:
    b = decode(pvst(vlan=100, rapid=rapid))
    assert (b.kind, b.pvst_vlan, b.problem, b.dst_mac) == (kind, 100, None, PVST_DST)
    assert b.root is not None
    assert b.root.sys_id_ext == 100
    assert "PVST+ vlan 100" in b.describe()


def test_bpdu_inside_an_8021q_tag() -> None:
    pkt = Ether(dst=STP_DST, src=GUEST) / Dot1Q(vlan=20, type=0x26) / bytes(stp())[14:]
    b = decode(pkt)
    assert (b.kind, b.vlan_tags, b.problem) == ("STP", (20,), None)


@pytest.mark.parametrize(
    ("pkt", "problem"),
    [
        (bytes(stp())[: 14 + 3 + 2], "truncated: 2 bytes, a BPDU needs at least 4"),
        (bytes(stp())[: 14 + 3 + 20], "truncated: 20 of 35 bytes"),
        (bytes(rstp())[:-1], "truncated: 35 of 36 bytes (no version 1 length)"),
        (bytes(mstp())[: 14 + 3 + 60], "MST BPDU truncated: 60 of at least 102 bytes"),
        (bytes(stp(proto=0x1234)), "protocol identifier 0x1234, not 0 (STP)"),
        (bytes(stp(bpdutype=0x55)), "unknown BPDU type 0x55"),
        (bytes(rstp())[:-1] + b"\x07", "version 1 length 7, must be 0"),
        (pvst(tlv=b""), "PVST+ BPDU without its originating VLAN TLV"),
        (pvst(tlv=struct.pack("!HHB", 0, 2, 1)), "PVST+ TLV type 0 truncated"),
        (pvst(tlv=struct.pack("!HHI", 0, 4, 100)), "originating VLAN TLV has length 4, not 2"),
    ],
)
def test_malformed_bpdus_decode_as_far_as_they_go(pkt: Packet | bytes, problem: str) -> None:
    raw = bytes(pkt)
    if isinstance(pkt, bytes) and raw[12:14] < b"\x06\x00":  # keep the 802.3 length honest
        raw = raw[:12] + struct.pack("!H", len(raw) - 14) + raw[14:]
    b = decode(raw)
    assert b.problem is not None
    assert problem in b.problem
    assert "MALFORMED" in b.describe()


def test_the_8023_length_bounds_the_bpdu_not_the_padding() -> None:
    raw = bytes(tcn()) + b"\xff" * 30  # padded to the 60-byte minimum with junk
    assert decode(raw).problem is None


def test_a_cooked_capture_bpdu_decodes_without_a_destination() -> None:
    llc_bpdu = bytes(stp())[14:]
    sll = struct.pack("!HHH8sH", 0, 1, 6, bytes.fromhex(GUEST.replace(":", "")) + b"\0\0", 4)
    frame = decode_frame(sll + llc_bpdu, 0.0, len(sll) + len(llc_bpdu), LINKTYPE_LINUX_SLL)
    assert frame is not None
    b = decode_bpdu(frame)
    assert b is not None
    assert (b.kind, b.src_mac, b.dst_mac, b.problem) == ("STP", GUEST, "", None)


def test_non_bpdu_frames_are_not_bpdus() -> None:
    raw = bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=GUEST, type=0x0806) / Raw(b"\0" * 28))
    frame = decode_frame(raw, 0.0, len(raw))
    assert frame is not None
    assert decode_bpdu(frame) is None


def test_findings_group_by_sender(tmp_path: Path) -> None:
    path = tmp_path / "mixed.pcap"
    wrpcap(str(path), [stp(), stp(), rstp(), pvst(), pvst(rapid=True), tcn(), pvst(tlv=b"")])
    findings = analyze_bpdus(read_capture(str(path)).frames)
    assert findings.total == 7
    assert findings.kinds == {"PVST+": 2, "RSTP": 1, "Rapid-PVST+": 1, "STP": 2, "STP TCN": 1}
    assert sorted(findings.sources) == [SWITCH, GUEST]
    assert findings.sources[GUEST].count == 3
    assert findings.sources[SWITCH].vlans == {100}
    assert findings.malformed == 1
    text = "\n".join(findings.text_lines())
    assert text.startswith("BPDUs: 7 (PVST+ 2, RSTP 1, Rapid-PVST+ 1, STP 2, STP TCN 1)")
    assert "MALFORMED: PVST+ BPDU without its originating VLAN TLV" in text
    assert findings.to_dict()["malformed"] == 1
    assert analyze_bpdus([]).text_lines() == []


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_cloudtales_analyze_reports_stp_rstp_and_pvst(tmp_path: Path, fmt: str) -> None:
    from scapy.utils import wrpcapng

    path = tmp_path / f"bpdus.{fmt}"
    (wrpcap if fmt == "pcap" else wrpcapng)(str(path), [stp(), rstp(), pvst(), pvst(rapid=True)])
    text = run_analyze(str(path))
    assert f"({fmt}, Ethernet)" in text.splitlines()[0]
    assert "BPDUs: 4 (PVST+ 1, RSTP 1, Rapid-PVST+ 1, STP 1)" in text
    data = json.loads(run_analyze(str(path), as_json=True))
    assert data["bpdus"] == {"PVST+": 1, "RSTP": 1, "Rapid-PVST+": 1, "STP": 1}
    assert data["stp"]["total"] == 4


# ---------------------------------------------------------------- /proc/net/bonding

ACTIVE_BACKUP = """\
Ethernet Channel Bonding Driver: v5.10.0

Bonding Mode: fault-tolerance (active-backup)
Primary Slave: None
Currently Active Slave: eth0
MII Status: up
MII Polling Interval (ms): 100

Slave Interface: eth0
MII Status: up
Speed: 10000 Mbps
Duplex: full
Link Failure Count: 0
Permanent HW addr: 00:1b:21:35:10:00
Slave queue ID: 0

Slave Interface: eth1
MII Status: down
Speed: Unknown
Duplex: Unknown
Link Failure Count: 3
Permanent HW addr: 00:1b:21:35:10:01
"""

LACP = """\
Ethernet Channel Bonding Driver: v5.15.0

Bonding Mode: IEEE 802.3ad Dynamic link aggregation
Transmit Hash Policy: layer3+4 (1)
MII Status: down

802.3ad info
LACP rate: fast
Aggregator selection policy (ad_select): stable

Slave Interface: ens1f0
MII Status: down
Link Failure Count: 1
details actor lacp pdu:
    system priority: 65535
    port state: 61
Aggregator ID: 1
"""


def test_active_backup_status() -> None:
    st = parse_proc_bonding(ACTIVE_BACKUP, "x")
    assert (st.mode, st.active_slave, st.up, st.driver) == (
        "active-backup",
        "eth0",
        True,
        "v5.10.0",
    )
    assert st.slaves_up == ["eth0"]
    assert st.slaves_down == ["eth1"]
    assert st.slaves[1].link_failure_count == 3
    assert st.slaves[0].speed == "10000 Mbps"


def test_8023ad_status_skips_indented_details() -> None:
    st = parse_proc_bonding(LACP, "x")
    assert (st.mode, st.mii_status, st.active_slave) == ("802.3ad", "down", None)
    assert [(s.name, s.mii_status) for s in st.slaves] == [("ens1f0", "down")]
    assert st.slaves[0].fields["Aggregator ID"] == "1"
    assert "system priority" not in st.slaves[0].fields


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "c:/b0: empty (not a bonding status file)"),
        ("root:x:0:0:root:/root:/bin/bash\n", "no 'Bonding Mode:' line"),
        (
            "Bonding Mode: x\n\nSlave Interface: eth0\nLink Failure Count: many\n",
            "slave eth0: Link Failure Count 'many' is not a number",
        ),  # fmt: skip
        ("Bonding Mode: x\nSlave Interface:\n", "names no interface"),
    ],
)
def test_malformed_bonding_files_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(CloudtalesError, match="^c:/b0: ") as err:
        parse_proc_bonding(text, "c:/b0")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- bond detector


def ip_link(*entries: dict[str, object]) -> str:
    import json

    return json.dumps(list(entries))


def link(name: str, up: bool = True, carrier: bool = True, **more: object) -> dict[str, object]:
    flags = ["BROADCAST", "MULTICAST"] + (["UP"] if up else []) + (["LOWER_UP"] if carrier else [])
    if up and not carrier:
        flags.insert(0, "NO-CARRIER")
    state = "UP" if up and carrier else "DOWN"
    return {"ifname": name, "flags": flags, "operstate": state, "mtu": 1500, **more}


def test_real_bond_with_both_slaves_down() -> None:
    bond = {"linkinfo": {"info_kind": "bond"}}
    links = parse_ip_link(
        ip_link(
            link("bond0", carrier=False, **bond),
            link("eth0", carrier=False, master="bond0"),
            link("eth1", carrier=False, master="bond0"),
            link("eth2"),
            link("lo"),
        )
    )
    out = detect_bond("nc1", "bond0", links, None)
    assert out.outcome == "all_slaves_down"
    assert out.facts["slaves_down"] == ["eth0", "eth1"]
    assert out.facts["other_links_up"] == ["eth2"]
    assert (
        out.summary == "nc1: bond0 is DOWN: every member lost its link (eth0, eth1); eth2 still up"
    )


def test_stand_in_members_come_from_the_status_file() -> None:
    links = parse_ip_link(ip_link(link("bond0", linkinfo={"info_kind": "tun"}), link("eth0"),
                                  link("eth1", carrier=False)))  # fmt: skip
    out = detect_bond("nc1", "bond0", links, parse_proc_bonding(ACTIVE_BACKUP))
    assert out.outcome == "some_slaves_down"
    assert out.facts["bond_kind"] == "tun"
    assert "tun standing in for a bond" in out.evidence[0].text
    ok = detect_bond(
        "nc1",
        "bond0",
        links[:2],
        parse_proc_bonding(ACTIVE_BACKUP.split("\n\nSlave Interface: eth1")[0]),
    )
    assert (ok.outcome, ok.facts["active_slave"]) == ("bond_up", "eth0")


def test_bond_admin_down_and_no_bond() -> None:
    links = parse_ip_link(ip_link(link("bond0", up=False, carrier=False),
                                  link("eth0", master="bond0")))  # fmt: skip
    assert detect_bond("h", "bond0", links, None).outcome == "bond_admin_down"
    missing = detect_bond("h", "bond1", links, None)
    assert (missing.outcome, missing.summary) == ("no_bond", "h: no link named bond1")


# ---------------------------------------------------------------- switch logs

TALE_LOG = """\
Feb 15 01:40:18 SW-1 Stp: %SPANTREE-4-BLOCK_BPDUGUARD: Received BPDU packet on Port-Channel35 with BPDU guard enabled. Disabling interface. (source mac fa:16:3e:24:e7:22)
Feb 15 01:40:18 SW-1 Ebra: %ETH-4-ERRDISABLE: bpduguard error detected on Port-Channel35.
Feb 15 01:40:18 SW-1 Mlag: %MLAG-4-INTF_INACTIVE_LOCAL: Local interface Port-Channel35 is link down. MLAG 35 is inactive.
Feb 15 01:40:18 SW-1 Ebra: %LINEPROTO-5-UPDOWN: Line protocol on Interface Port-Channel35 (Server35), changed state to down
Feb 15 01:40:19 SW-1 Stp: %SPANTREE-6-INTERFACE_DEL: Interface Port-Channel35 has been removed from instance MST0
Feb 15 01:40:19 SW-1 Ebra: %LINEPROTO-5-UPDOWN: Line protocol on Interface Ethernet35 (Server35), changed state to down
"""  # noqa: E501

IOS_LOG = """\
Mar  1 00:22:07 sw9 1234: *Mar  1 00:22:07.123: %SPANTREE-2-BLOCK_BPDUGUARD: Received BPDU on port GigabitEthernet1/0/1 with BPDU Guard enabled. Disabling port.
Mar  1 00:22:07 sw9 1235: *Mar  1 00:22:07.125: %PM-4-ERR_DISABLE: bpduguard error detected on Gi1/0/1, putting Gi1/0/1 in err-disable state
"""  # noqa: E501


def test_the_tales_log_says_bpdu_guard_with_the_guest_mac() -> None:
    events = parse_switch_log(TALE_LOG)
    assert [e.kind for e in events] == [
        "bpduguard", "errdisable", "other", "link_down", "other", "link_down",
    ]  # fmt: skip
    assert events[0].tag == "%SPANTREE-4-BLOCK_BPDUGUARD"
    assert (events[1].interface, events[1].cause) == ("Port-Channel35", "bpduguard")
    out = detect_switch_log("sw1", events)
    assert out.outcome == "bpduguard"
    assert out.facts["bpduguard_macs"] == [GUEST]
    assert out.facts["errdisabled_ports"] == ["sw1 Port-Channel35 (bpduguard)"]
    assert out.facts["down_ports"] == ["sw1 Ethernet35"]
    assert out.summary == f"sw1: BPDU guard err-disabled Port-Channel35 (BPDUs from {GUEST})"


def test_ios_and_nxos_lines() -> None:
    events = parse_switch_log(IOS_LOG)
    assert [(e.host, e.interface) for e in events] == [("sw9", "GigabitEthernet1/0/1"),
                                                       ("sw9", "Gi1/0/1")]  # fmt: skip
    nx = parse_switch_log(
        "2019 Jan 16 04:40:19 switch01 %ETHPORT-2-IF_DOWN_ERROR_DISABLED: Interface "
        "Ethernet1/43 is down (Error disabled. Reason:BPDUGuard)"
    )[0]
    assert (nx.kind, nx.host, nx.interface, nx.cause) == (
        "errdisable", "switch01", "Ethernet1/43", "bpduguard",
    )  # fmt: skip
    assert normalize_mac("FA16.3E24.E722") == GUEST
    assert normalize_mac("junk") == "junk"


def test_recovery_clears_the_port_and_other_causes_are_told_apart() -> None:
    recovered = TALE_LOG + (
        "Feb 15 02:10:00 SW-1 Ebra: %LINEPROTO-5-UPDOWN: Line protocol on Interface "
        "Port-Channel35 (Server35), changed state to up\n"
        "Feb 15 02:10:00 SW-1 Ebra: %LINEPROTO-5-UPDOWN: Line protocol on Interface "
        "Ethernet35 (Server35), changed state to up\n"
    )
    assert detect_switch_log("sw1", parse_switch_log(recovered)).outcome == "clean"
    flap = parse_switch_log("%PM-4-ERR_DISABLE: link-flap error detected on Gi1/0/2, putting "
                            "Gi1/0/2 in err-disable state")  # fmt: skip
    out = detect_switch_log("sw9", flap)
    assert (out.outcome, out.facts["errdisabled_ports"]) == (
        "errdisabled_other", ["sw9 Gi1/0/2 (link-flap)"],
    )  # fmt: skip
    ios_recover = parse_switch_log(
        IOS_LOG + "%PM-4-ERR_RECOVER: Attempting to recover from bpduguard err-disable state "
        "on Gi1/0/1\n%LINK-3-UPDOWN: Interface GigabitEthernet1/0/1, changed state to up\n"
        "%LINK-3-UPDOWN: Interface Gi1/0/1, changed state to up\n"
    )
    assert ios_recover[2].kind == "recovery"
    assert detect_switch_log("sw9", ios_recover).outcome == "clean"


def test_garbage_logs_are_not_errors() -> None:
    assert parse_switch_log("\x00\xff binary\n" + "x" * 100000 + "\nno percent here\n") == []
    assert detect_switch_log("sw", []).outcome == "clean"
    merged = merge_outcomes(
        [detect_switch_log("sw1", parse_switch_log(TALE_LOG)), detect_switch_log("sw2", [])],
        ("bpduguard", "errdisabled_other", "link_down", "clean"),
    )
    assert merged.outcome == "bpduguard"
    assert merged.facts["events"] == 6


# ---------------------------------------------------------------- capture and identity


def bpdus(*pkts: Packet) -> list[Bpdu]:
    return [decode(p) for p in pkts]


def test_capture_detector_tells_guests_from_the_host() -> None:
    on_tap = detect_bpdu_capture("c", {"tap1": bpdus(stp(), stp())}, ["tap1"], {})
    assert on_tap.outcome == "guest_bpdus"
    assert on_tap.facts["source_macs"] == [GUEST]
    assert on_tap.facts["by_iface"] == {"tap1": [GUEST]}
    assert "(OpenStack MAC) on tap1" in on_tap.summary
    uplink = detect_bpdu_capture("c", {"bond0": bpdus(stp())}, [], {"00:1b:21:35:10:00": "bond0"})
    assert uplink.outcome == "guest_bpdus"  # a MAC the host does not own, leaving the uplink
    own = detect_bpdu_capture("c", {"bond0": bpdus(stp(src="00:1b:21:35:10:00"))}, [],
                              {"00:1b:21:35:10:00": "br100"})  # fmt: skip
    assert (own.outcome, own.facts["host_bridge_macs"]) == (
        "host_bpdus",
        ["00:1b:21:35:10:00 (br100)"],
    )
    none = detect_bpdu_capture("c", {"bond0": []}, [], {})
    assert (none.outcome, none.summary) == ("no_bpdus", "c: no BPDUs sent on bond0")


DOMAIN = """<domain type='kvm'><name>instance-00000023</name>
<uuid>5c0a8d5e-3c1b-4f0e-9b9a-2a9c1e7b0d23</uuid>
<metadata><nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.0">
<nova:name>centos-test</nova:name><nova:owner><nova:user uuid="u">valentine</nova:user>
<nova:project uuid="p">cupid</nova:project></nova:owner></nova:instance></metadata>
<devices><interface type='bridge'><mac address='fa:16:3e:24:e7:22'/><source bridge='br100'/>
<target dev='tap3f2a9c1e-7b'/><model type='virtio'/></interface>
<interface type='network'><source network='default'/></interface></devices></domain>"""
FDB = (
    '[{"mac":"fa:16:3e:24:e7:22","ifname":"tap3f2a9c1e-7b","master":"br100","flags":[],'
    '"state":""},{"mac":"00:1c:73:aa:bb:01","ifname":"bond0","master":"br100","state":""},'
    '{"mac":"33:33:00:00:00:01","ifname":"br100","flags":["self"],"state":"permanent"}]'
)


def test_identity_runs_from_mac_to_instance() -> None:
    dom = parse_domain_xml(DOMAIN, "x")
    assert len(dom.nics) == 1  # the interface without a MAC is skipped
    out = resolve_bpdu_sources("compute", "server35", [GUEST], {"tap3f2a9c1e-7b": [GUEST]},
                               parse_bridge_fdb(FDB), [dom], "test", ["bond0"])  # fmt: skip
    assert out.outcome == "instance_found"
    assert (out.facts["instance"], out.facts["instance_owner"]) == (
        "centos-test",
        "valentine/cupid",
    )
    assert (out.facts["tap"], out.facts["compute"]) == ("tap3f2a9c1e-7b", "server35")
    assert "LAYERS DISAGREE" not in out.evidence[0].text


def test_identity_without_a_domain_or_port() -> None:
    fdb = parse_bridge_fdb(FDB)
    orphan = resolve_bpdu_sources("c", "c", [GUEST], {}, fdb, [], "none")
    assert (orphan.outcome, orphan.facts["tap"], orphan.facts["instance"]) == (
        "tap_only", "tap3f2a9c1e-7b", None,
    )  # fmt: skip
    remote = resolve_bpdu_sources("c", "c", [SWITCH], {}, fdb, [], "none", ["bond0"])
    assert remote.outcome == "unknown_source"
    assert resolve_bpdu_sources("c", "c", [], {}, fdb, [], "none").outcome == "unknown_source"


def test_a_guest_bridge_mac_resolves_through_its_port() -> None:
    dom = parse_domain_xml(DOMAIN, "x")
    other_mac = "fa:16:3e:00:00:99"  # a bridge inside the guest with a MAC of its own
    fdb = parse_bridge_fdb(f'[{{"mac":"{other_mac}","ifname":"tap3f2a9c1e-7b","master":"br100"}}]')
    out = resolve_bpdu_sources("c", "c", [other_mac], {}, fdb, [dom], "x")
    assert (out.outcome, out.facts["instance"]) == ("instance_found", "centos-test")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<domain", "not valid XML"),
        ("<node/>", "no <domain> element"),
        ("<domain><uuid>x</uuid></domain>", "has no <name>"),
    ],
)
def test_malformed_domain_xml(text: str, message: str) -> None:
    with pytest.raises(CloudtalesError, match=message):
        parse_domain_xml(text, "c:/etc/libvirt/qemu/x.xml")


def test_live_status_xml_and_head_output() -> None:
    dom = parse_domain_xml(f"<domstatus state='running'>{DOMAIN}</domstatus>", "s")
    assert dom.label == "centos-test (instance-00000023)"
    out = "==> /a.xml <==\n<domain/>\n\n==> /b.xml <==\n<x/>\n"
    assert split_head_output(out) == [("/a.xml", "<domain/>\n\n"), ("/b.xml", "<x/>\n")]
    assert split_head_output("head: cannot open") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [("{", "not JSON"), ("{}", "JSON list"), ('[{"mac":"x"}]', "entry 0 has no mac")],
)
def test_malformed_fdb(text: str, message: str) -> None:
    with pytest.raises(CloudtalesError, match=message):
        parse_bridge_fdb(text)


@pytest.mark.parametrize(
    "module",
    [
        "engine.analyzers.stp",
        "engine.parsers.proc_bonding",
        "engine.parsers.switch_log",
        "engine.parsers.libvirt_interfaces",
        "engine.parsers.bridge_fdb",
    ],
)
def test_doctests(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert (result.failed, result.attempted > 0) == (0, True)
