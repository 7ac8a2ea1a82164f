"""DHCP over frames: decode (incl. malformed options and truncated frames), conversations,
the DHCP detectors, dnsmasq configuration, client processes and ``cloudtales analyze``."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Raw
from scapy.utils import wrpcap

from engine.analyzers.capture_report import run_analyze
from engine.analyzers.dhcp import (
    conversations,
    decode_bootp,
    decode_dhcp,
    delivery_lines,
)
from engine.detectors.dhcp import (
    dhcp_picture,
    judge_dhcp_client,
    judge_dhcp_conversation,
    judge_lease,
    settled,
)
from engine.errors import CloudtalesError
from engine.parsers.dhcp_client import parse_client_report
from engine.parsers.dnsmasq_conf import (
    merge_all,
    parse_dnsmasq_args,
    parse_dnsmasq_conf,
    parse_time,
)
from engine.parsers.pcap import Frame, decode_frame

MAC = "fa:16:3e:00:00:05"
SERVER, CLIENT = "10.0.0.1", "10.0.0.5"
XID = 0x1A2B3C4D


def dhcp_bytes(
    kind: str,
    *,
    xid: int = XID,
    src: str = CLIENT,
    dst: str = SERVER,
    secs: int = 0,
    lease: int | None = None,
    vlan: int | None = None,
    options: list[object] | None = None,
) -> bytes:
    server = kind in ("offer", "ack", "nak")
    opts: list[object] = [("message-type", kind)]
    if server:
        opts += [("server_id", SERVER)]
    if lease is not None:
        opts += [("lease_time", lease)]
    if kind == "discover":
        opts += [("requested_addr", CLIENT)]
    l2 = Ether(src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff")
    if vlan is not None:
        l2 = l2 / Dot1Q(vlan=vlan)
    pkt = (
        l2
        / IP(src=src, dst=dst)
        / UDP(sport=67 if server else 68, dport=68 if server else 67)
        / BOOTP(
            op=2 if server else 1,
            xid=xid,
            secs=secs,
            ciaddr=CLIENT if kind == "request" and src == CLIENT else "0.0.0.0",
            yiaddr=CLIENT if server else "0.0.0.0",
            chaddr=bytes.fromhex(MAC.replace(":", "")),
        )
        / DHCP(options=[*(options if options is not None else opts), "end"])
    )
    return bytes(pkt)


def frame(raw: bytes, ts: float = 0.0, wire: int | None = None) -> Frame:
    f = decode_frame(raw, ts, wire if wire is not None else len(raw))
    assert f is not None
    return f


def msg(raw: bytes, ts: float = 0.0, wire: int | None = None):  # type: ignore[no-untyped-def]
    return decode_dhcp(frame(raw, ts, wire))


# ---------------------------------------------------------------- decode


def test_decodes_every_field_of_an_ack_even_under_a_vlan_tag() -> None:
    m = msg(dhcp_bytes("ack", src=SERVER, dst=CLIENT, lease=120, vlan=100))
    assert m is not None
    assert (m.op, m.xid, m.type_name, m.chaddr, m.yiaddr) == (2, XID, "ACK", MAC, CLIENT)
    assert (m.server_id, m.lease_time, m.requested_ip) == (SERVER, 120, None)
    assert m.from_server
    assert not m.truncated
    assert not m.malformed
    d = msg(dhcp_bytes("discover", src="0.0.0.0", dst="255.255.255.255", secs=3))
    assert d is not None
    assert (d.op, d.type_name, d.requested_ip, d.secs, d.from_server) == (
        1,
        "DISCOVER",
        CLIENT,
        3,
        False,
    )


def test_t1_t2_and_plain_bootp() -> None:
    m = msg(dhcp_bytes("ack", src=SERVER, dst=CLIENT, options=[
        ("message-type", "ack"), ("renewal_time", 60), ("rebinding_time", 105)]))  # fmt: skip
    assert m is not None
    assert (m.renewal_time, m.rebinding_time) == (60, 105)
    vend = bytes(Ether() / IP() / UDP(sport=68, dport=67) / BOOTP(xid=7, options=b"\0" * 64))
    b = msg(vend)  # RFC 951 BOOTP: a vendor area, no DHCP cookie
    assert b is not None
    assert (b.type_name, b.xid, b.malformed, b.truncated) == ("BOOTP", 7, False, False)
    bare = msg(bytes(Ether() / IP() / UDP(sport=68, dport=67) / BOOTP(xid=8)))
    assert bare is not None  # ends before the vendor area: readable, but malformed
    assert (bare.type_name, bare.xid, bare.malformed) == ("BOOTP", 8, True)


def test_malformed_option_lists_never_raise() -> None:
    head = bytes(BOOTP(op=1, xid=9))[:236] + b"\x63\x82\x53\x63"
    # an option whose length runs past the end of the datagram
    m = decode_bootp(head + b"\x35\x01\x03" + b"\x33\x40\x00")
    assert m is not None
    assert (m.type_name, m.malformed, m.truncated, m.lease_time) == ("REQUEST", True, False, None)
    # a length byte missing at the very end
    m = decode_bootp(head + b"\x35\x01\x01\x33")
    assert m is not None
    assert (m.type_name, m.malformed) == ("DISCOVER", True)
    # wrong-sized fixed options are ignored, unknown message types named
    m = decode_bootp(head + b"\x35\x01\x63\x33\x02\x00\x10\x36\x03\x01\x02\x03\xff")
    assert m is not None
    assert (m.type_name, m.lease_time, m.server_id, m.malformed) == ("type 99", None, None, False)
    # pads and no END option are tolerated
    m = decode_bootp(head + b"\x00\x00\x35\x01\x05")
    assert m is not None
    assert (m.type_name, m.malformed) == ("ACK", False)
    assert decode_bootp(b"\x01" * 20) is None  # shorter than the fixed header


def test_truncated_frames_say_so() -> None:
    raw = dhcp_bytes("ack", src=SERVER, dst=CLIENT, lease=120)
    cut = frame(raw[: 14 + 28 + 240 + 5], wire=len(raw))  # snaplen: options cut
    m = decode_dhcp(cut)
    assert m is not None
    assert (m.xid, m.truncated, m.malformed) == (XID, True, False)
    short = frame(raw[:60], wire=len(raw))  # not even the BOOTP header
    assert decode_dhcp(short) is None
    # not cut by the capture, but the UDP length claims more than there is
    lying = bytearray(raw)
    struct.pack_into("!H", lying, 14 + 20 + 4, 2000)
    m = decode_dhcp(frame(bytes(lying)))
    assert m is not None
    assert m.malformed
    assert not m.truncated
    assert decode_dhcp(frame(bytes(Ether() / IP() / UDP(sport=53, dport=53)))) is None


def test_random_bytes_never_raise() -> None:
    rng = random.Random(5)
    base = dhcp_bytes("request")
    for _ in range(300):
        raw = bytearray(base)
        for _ in range(rng.randrange(1, 20)):
            raw[rng.randrange(42, len(raw))] = rng.randrange(256)
        cut = rng.randrange(20, len(raw) + 1)
        f = decode_frame(bytes(raw[:cut]), 0.0, len(raw))
        if f is not None:
            decode_dhcp(f)  # must not raise
        decode_bootp(bytes(raw[42:cut]), rng.randrange(0, 600))


# ---------------------------------------------------------------- conversations


def the_issue_frames() -> tuple[list[Frame], list[Frame]]:
    """Instance and controller captures of the tale: three unicast renewals, each ACKed
    and lost, one broadcast rebind, ACKed and lost; then a DISCOVER/OFFER, lost too."""
    instance, controller = [], []
    t = 100.0
    for secs, dst in ((0, SERVER), (1, SERVER), (3, SERVER), (5, "255.255.255.255")):
        req = dhcp_bytes("request", secs=secs, dst=dst)
        instance.append(frame(req, t))
        controller.append(frame(req, t + 0.001))
        controller.append(frame(dhcp_bytes("ack", src=SERVER, dst=CLIENT, lease=120), t + 0.003))
        t += 1.5
    disc = dhcp_bytes("discover", xid=0x99, src="0.0.0.0", dst="255.255.255.255")
    instance.append(frame(disc, t))
    controller.append(frame(disc, t + 0.001))
    controller.append(frame(dhcp_bytes("offer", xid=0x99, src=SERVER, dst=CLIENT), t + 0.002))
    return instance, controller


def test_conversations_per_xid_and_delivery_lines() -> None:
    instance, controller = the_issue_frames()
    convs = conversations({"instance": instance, "controller": controller})
    assert [hex(c.xid) for c in convs] == [hex(XID), "0x99"]
    renew = convs[0]
    assert renew.client_mac == MAC
    assert renew.count("ACK", "controller") == 4
    assert renew.count("ACK", "instance") == 0
    assert renew.broadcast_requests("instance") == 1
    assert renew.kinds("instance") == ["REQUEST"] * 4
    assert renew.outcome == "ACKed"
    assert renew.yiaddr == CLIENT
    assert renew.lease_time == 120
    assert renew.headline() == f"xid 0x1a2b3c4d {MAC}: REQUEST x4 -> ACKed 10.0.0.5 (120s)"
    assert delivery_lines(convs, "controller", "instance") == [
        "xid 0x1a2b3c4d: controller sent 4 ACK, instance received 0",
        "xid 0x00000099: controller sent 1 OFFER, instance received 0",
    ]
    single = conversations(controller)  # one capture: no points
    assert single[0].headline().endswith("REQUEST x4, ACK x4 -> ACKed 10.0.0.5 (120s)")
    assert single[0].to_dict()["messages"][1]["type"] == "ACK"  # type: ignore[index]


def test_detector_replies_lost_then_delivered() -> None:
    instance, controller = the_issue_frames()
    pic = dhcp_picture({"instance": instance, "controller": controller}, "instance", "controller")
    assert len(pic.lost_replies) == 5
    assert not settled(pic, 2, client_quiet=False)
    assert settled(pic, 2, client_quiet=True)
    out = judge_dhcp_conversation(pic, 2, client_quiet=True)
    assert out.outcome == "replies_lost"
    assert out.summary == (
        "controller sent 5 DHCP replies (ACK x4, OFFER x1), instance received 0; the client "
        "rebroadcast to 255.255.255.255 and then went quiet (gave up)"
    )
    assert out.facts["server_replies"] == 5
    assert out.facts["replies_received"] == 0
    assert out.facts["requests_received"] == 5
    assert out.facts["broadcast_requests"] == 1
    assert out.facts["client_gave_up"] is True
    assert out.facts["lost_after"] == "controller"
    assert out.facts["delivery"][0] == "xid 0x1a2b3c4d: controller sent 4 ACK, instance received 0"  # type: ignore[index]
    # healthy: the same first renewal, and its ACK arrives
    req, ack = dhcp_bytes("request"), dhcp_bytes("ack", src=SERVER, dst=CLIENT, lease=120)
    good = dhcp_picture(
        {"instance": [frame(req, 1.0), frame(ack, 1.01)],
         "controller": [frame(req, 1.001), frame(ack, 1.003)]},
        "instance", "controller",
    )  # fmt: skip
    assert settled(good, 2, client_quiet=False)
    out = judge_dhcp_conversation(good, 2, client_quiet=False)
    assert (out.outcome, out.summary) == (
        "replies_delivered",
        "1 DHCP replies (ACK x1) reached instance",
    )


def test_detector_other_outcomes() -> None:
    req = dhcp_bytes("request")
    empty = dhcp_picture({"i": [], "c": []}, "i", "c")
    assert judge_dhcp_conversation(empty, 2, True).outcome == "no_dhcp"
    unanswered = dhcp_picture({"i": [frame(req, 1.0)], "c": [frame(req, 1.001)]}, "i", "c")
    out = judge_dhcp_conversation(unanswered, 2, True)
    assert (out.outcome, out.summary) == (
        "no_server_reply",
        "c received 1 DHCP requests and answered none",
    )
    lost = dhcp_picture({"i": [frame(req, 1.0)], "c": []}, "i", "c")
    assert judge_dhcp_conversation(lost, 2, True).outcome == "requests_lost"


# ---------------------------------------------------------------- DHCP client


def test_client_report_and_detector() -> None:
    text = (
        "proc 42 dhclient -1 -v -pf /run/dhclient.eth0.pid -lf /var/lib/dhcp/x eth0 \n"
        "proc 43 dhclient -v eth1\n"
        'addr [{"ifname":"eth0","addr_info":[{"family":"inet","local":"10.0.0.5",'
        '"prefixlen":24}]}]\n'
    )
    report = parse_client_report(text, "instance")
    assert [p.pid for p in report.clients_for("eth0")] == [42]
    assert report.addresses == ("10.0.0.5/24",)
    out = judge_dhcp_client("instance", "eth0", report)
    assert out.outcome == "bound"
    assert out.summary == "instance: dhclient runs (pid 42); eth0 has 10.0.0.5/24"
    gone = parse_client_report("addr []\n", "instance")
    out = judge_dhcp_client("instance", "eth0", gone)
    assert (out.outcome, out.facts["client_running"]) == ("client_gone", False)
    assert out.summary == "instance: no DHCP client is running for eth0; eth0 has no IPv4 address"
    alive = parse_client_report("proc 7 /sbin/dhclient\naddr []\n", "i")  # all interfaces
    assert judge_dhcp_client("i", "eth0", alive).outcome == "no_address"
    missing = parse_client_report('addr Device "eth9" does not exist.\n', "i")
    assert not missing.iface_present
    with pytest.raises(CloudtalesError, match="no address report"):
        parse_client_report("proc 1 dhclient\n", "instance")
    with pytest.raises(CloudtalesError, match="not JSON"):
        parse_client_report("addr [oops\n", "instance")


# ---------------------------------------------------------------- dnsmasq lease


def test_dnsmasq_time_and_ranges() -> None:
    assert [parse_time(t) for t in ("120s", "2m", "1h", "3d", "1w", "90", "infinite", "x")] == [
        120, 120, 3600, 259200, 604800, 90, -1, None,
    ]  # fmt: skip
    nova = parse_dnsmasq_args(
        ["dnsmasq", "--strict-order", "-C", "/etc/nova/dnsmasq-nova.conf",
         "--dhcp-range=set:private,10.0.0.2,static,255.255.255.0,120s", "-F", "::1,::9,64"],
        "cmdline",
    )  # fmt: skip
    conf = parse_dnsmasq_conf(
        "# extra\n\ndhcp-option=option:T1,6\ndhcp-option=tag:x,59,10\nbogus line\n", "f"
    )
    merged = merge_all([nova, conf])
    assert merged.conf_files == ["/etc/nova/dnsmasq-nova.conf"]
    assert (merged.lease_seconds(), merged.renewal_seconds(), merged.t2) == (120, 6, 10)
    assert [r.ipv6 for r in merged.ranges] == [False, True]
    assert parse_dnsmasq_conf("dhcp-range=10.0.0.10,10.0.0.50\n", "f").lease_seconds() == 3600
    assert parse_dnsmasq_conf("dhcp-range=10.0.0.10,10.0.0.50,5s\n", "f").lease_seconds() == 120
    assert parse_dnsmasq_conf("dhcp-range=a,b,infinite\n", "f").lease_seconds() == -1
    out = judge_lease("controller", merged, 3600)
    assert (out.outcome, out.summary) == (
        "short",
        "controller: dnsmasq leases last 120 s: every instance renews every 6 s",
    )
    week = parse_dnsmasq_conf("dhcp-range=10.0.0.10,10.0.0.50,1w\n", "f")
    assert judge_lease("c", week, 3600).outcome == "long"
    assert judge_lease("c", parse_dnsmasq_conf("", "f"), 3600).outcome == "unknown"


# ---------------------------------------------------------------- cloudtales analyze


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_analyze_reports_dhcp_conversations(tmp_path: Path, fmt: str) -> None:
    _, controller = the_issue_frames()
    path = tmp_path / f"controller.{fmt}"
    pkts = [Ether(f.data) for f in controller]
    for pkt, f in zip(pkts, controller, strict=True):
        pkt.time = f.ts
    wrpcap(str(path), pkts, linktype=1) if fmt == "pcap" else _write_pcapng(path, pkts)
    text = run_analyze(str(path))
    assert "DHCP: REQUEST 4, ACK 4, DISCOVER 1, OFFER 1" in text
    assert "DHCP conversations (2, per xid):" in text
    assert f"  xid 0x1a2b3c4d {MAC}: REQUEST x4, ACK x4 -> ACKed 10.0.0.5 (120s)" in text
    assert "REQUEST 10.0.0.5 > 255.255.255.255 (broadcast)" in text
    assert "ACK 10.0.0.1 > 10.0.0.5 (yiaddr 10.0.0.5, lease 120s)" in text
    assert f"  xid 0x00000099 {MAC}: DISCOVER, OFFER -> offered" in text
    data = json.loads(run_analyze(str(path), as_json=True))
    first = data["dhcp_conversations"][0]
    assert (first["xid"], first["client_mac"], first["yiaddr"], first["lease_time"]) == (
        "0x1a2b3c4d",
        MAC,
        CLIENT,
        120,
    )
    assert [m["type"] for m in first["messages"]] == ["REQUEST", "ACK"] * 4


def _write_pcapng(path: Path, pkts: list[Ether]) -> None:
    from scapy.utils import PcapNgWriter

    with PcapNgWriter(str(path)) as w:
        for p in pkts:
            w.write(p)


def test_analyze_without_dhcp_says_nothing_about_it(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    wrpcap(str(path), [Ether() / IP() / UDP() / Raw(b"x")])
    text = run_analyze(str(path))
    assert "DHCP" not in text
    assert json.loads(run_analyze(str(path), as_json=True))["dhcp_conversations"] == []


def test_analyze_counts_dhcp_by_type_truncated_and_malformed() -> None:
    from engine.analyzers.capture_report import dhcp_message_type

    raw = dhcp_bytes("request")
    assert dhcp_message_type(frame(raw)) == "REQUEST"
    assert dhcp_message_type(frame(raw[:300], wire=len(raw))) == "REQUEST"  # option 53 kept
    assert dhcp_message_type(frame(raw[:270], wire=len(raw))) == "truncated"  # snaplen 270
    short = bytearray(raw[:270])  # nothing cut by the capture, yet the UDP length says more
    assert dhcp_message_type(frame(bytes(short))) == "malformed"
    no_cookie = bytearray(raw)
    no_cookie[42 + 236 : 42 + 240] = b"\x00\x00\x00\x00"
    assert dhcp_message_type(frame(bytes(no_cookie))) == "BOOTP"
    for bad in (random.Random(7).randbytes(len(raw)) for _ in range(50)):
        f = decode_frame(raw[:42] + bad[42:], 0.0, len(raw))
        if f is not None:
            assert isinstance(dhcp_message_type(f), str)  # never raises
