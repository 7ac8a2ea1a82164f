"""The fast pcap/pcapng scanner: formats, link types, decoded fields, bad input, streaming."""

from __future__ import annotations

import dataclasses
import random
import struct
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import (
    LLC,
    SNAP,
    STP,
    CookedLinux,
    CookedLinuxV2,
    Dot1AD,
    Dot1Q,
    Dot3,
    Ether,
)
from scapy.packet import Raw
from scapy.utils import PcapNgWriter, wrpcap

from engine.capture.stream import FrameStream
from engine.parsers.pcap import (
    Capture,
    CaptureStats,
    Frame,
    PcapFormatError,
    decode_frame,
    iter_frames,
    read_capture,
)

A, B = "02:00:00:00:00:01", "02:00:00:00:00:02"


def ping(*vids: int, payload: int = 1472, seq: int = 1, ip_id: int = 7) -> bytes:
    """Ethernet frame of a ``ping -s payload``, under the given VLAN stack (outer first)."""
    pkt = Ether(src=A, dst=B)
    for vid in vids:
        pkt = pkt / Dot1Q(vlan=vid)
    ip = IP(src="10.0.0.1", dst="10.0.0.2", id=ip_id) / ICMP(id=3, seq=seq)
    return bytes(pkt / ip / Raw(b"x" * payload))


def pcap_bytes(
    frames: list[bytes],
    *,
    endian: str = "<",
    nano: bool = False,
    linktype: int = 1,
    orig: list[int] | None = None,
    snaplen: int = 65535,
) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for i, data in enumerate(frames):
        frac = 250_000_000 if nano else 250_000
        wire = orig[i] if orig else len(data)
        out.append(struct.pack(endian + "IIII", 100 + i, frac, len(data), wire) + data)
    return b"".join(out)


def ng_block(kind: int, body: bytes, e: str = "<") -> bytes:
    body += b"\0" * (-len(body) % 4)
    size = len(body) + 12
    return struct.pack(e + "II", kind, size) + body + struct.pack(e + "I", size)


def ng_shb(e: str = "<") -> bytes:
    return ng_block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), e)


def ng_idb(linktype: int, e: str = "<", tsresol: int | None = None, tsoffset: int = 0) -> bytes:
    opts = b""
    if tsresol is not None:
        opts += struct.pack(e + "HHB3x", 9, 1, tsresol)
    if tsoffset:
        opts += struct.pack(e + "HHq", 14, 8, tsoffset)
    if opts:
        opts += struct.pack(e + "HH", 0, 0)
    return ng_block(1, struct.pack(e + "HHI", linktype, 0, 0) + opts, e)


def ng_epb(iface: int, ticks: int, data: bytes, e: str = "<", orig: int | None = None) -> bytes:
    head = struct.pack(
        e + "IIIII",
        iface,
        ticks >> 32,
        ticks & 0xFFFFFFFF,
        len(data),
        len(data) if orig is None else orig,
    )
    return ng_block(6, head + data, e)


def frames_of(data: bytes) -> tuple[list[Frame], CaptureStats]:
    stats = CaptureStats()
    return list(iter_frames(data, stats)), stats


# --- decoded fields -------------------------------------------------------------------


def test_double_tagged_ping_fields(tmp_path: Path) -> None:
    path = tmp_path / "double.pcap"
    wrpcap(str(path), [Ether(ping(20, 100))])
    cap = read_capture(path)
    assert isinstance(cap, Capture)
    [f] = cap.frames
    assert (f.wire_len, f.cap_len, len(f.data)) == (1522, 1522, 1522)
    assert f.tags == ((0x8100, 20), (0x8100, 100))
    assert f.vids == (20, 100)
    assert (f.src_mac, f.dst_mac, f.ethertype, f.l3_offset) == (A, B, 0x0800, 22)
    assert (f.ip_src, f.ip_dst, f.ip_proto, f.ip_id, f.ip_total_len) == (
        "10.0.0.1",
        "10.0.0.2",
        1,
        7,
        1500,
    )
    assert (f.icmp_type, f.icmp_code, f.icmp_id, f.icmp_seq) == (8, 0, 3, 1)
    assert not f.is_bpdu
    assert not f.is_dhcp
    assert cap.stats == CaptureStats("pcap", 1, 0, 0, 0, 0, {1: 1})


def test_frame_is_a_real_frozen_slotted_dataclass() -> None:
    f = decode_frame(ping(20), 1.5, 1518)
    assert f is not None
    assert type(f) is Frame
    assert not hasattr(f, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.wire_len = 1  # type: ignore[misc]
    twin = Frame(**{fl.name: getattr(f, fl.name) for fl in dataclasses.fields(Frame)})
    assert f == twin
    assert hash(f) == hash(twin)
    assert dataclasses.replace(f, wire_len=60).wire_len == 60


@pytest.mark.parametrize(("endian", "nano"), [("<", False), (">", False), ("<", True), (">", True)])
def test_classic_magics_and_timestamps(endian: str, nano: bool) -> None:
    frames, stats = frames_of(pcap_bytes([ping(20), ping()], endian=endian, nano=nano))
    assert [f.ts for f in frames] == [100.25, 101.25]
    assert [f.vids for f in frames] == [(20,), ()]
    assert [f.wire_len for f in frames] == [1518, 1514]
    assert stats.format == "pcap"
    assert stats.frames == 2


def test_wire_length_is_the_original_length_not_the_snaplen() -> None:
    full = ping(20, 100)
    [f], _ = frames_of(pcap_bytes([full[:64]], orig=[1522], snaplen=64))
    assert (f.wire_len, f.cap_len, len(f.data)) == (1522, 64, 64)
    assert f.ip_total_len == 1500
    assert f.icmp_seq == 1


def test_qinq_and_other_tpids() -> None:
    raw = bytes(Ether(src=A, dst=B) / Dot1AD(vlan=100) / Dot1Q(vlan=20) / IP() / ICMP())
    f = decode_frame(raw, 0.0, len(raw))
    assert f is not None
    assert f.tags == ((0x88A8, 100), (0x8100, 20))
    raw = bytes(Ether(src=A, dst=B, type=0x9100)) + struct.pack("!HH", 30, 0x0800) + bytes(IP())
    f = decode_frame(raw, 0.0, len(raw))
    assert f is not None
    assert f.tags == ((0x9100, 30),)
    assert f.ip_proto == 0


def test_icmp_non_echo_fragments_and_ip_options() -> None:
    frag_needed = bytes(Ether() / IP() / ICMP(type=3, code=4))
    f = decode_frame(frag_needed, 0.0, len(frag_needed))
    assert f is not None
    assert (f.icmp_type, f.icmp_code, f.icmp_id) == (3, 4, None)
    later = bytes(Ether() / IP(frag=185, proto=1) / Raw(b"\x08" * 20))
    f = decode_frame(later, 0.0, len(later))
    assert f is not None
    assert f.ip_proto == 1
    assert f.icmp_type is None
    opts = bytes(Ether() / IP(options=b"\x01\x01\x01\x00", id=9) / ICMP(id=5, seq=6))
    f = decode_frame(opts, 0.0, len(opts))
    assert f is not None
    assert (f.ip_id, f.icmp_id, f.icmp_seq) == (9, 5, 6)


def test_bpdu_and_dhcp_flags() -> None:
    stp = bytes(Dot3(dst="01:80:c2:00:00:00") / LLC() / STP())
    snap = bytes(LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0x0C, code=0x010B) / STP())
    pvst = (
        bytes(Ether(dst="01:00:0c:cc:cc:cd", src=A, type=0x8100))
        + struct.pack("!HH", 20, len(snap))
        + snap
    )  # tagged 802.3 frame, as a trunk carries PVST+
    other_llc = bytes(Dot3(dst="01:80:c2:00:00:00") / LLC(dsap=0xFE, ssap=0xFE) / Raw(b"x" * 40))
    dhcp = bytes(Ether() / IP() / UDP(sport=68, dport=67) / Raw(b"\0" * 240))
    dns = bytes(Ether() / IP() / UDP(sport=5353, dport=53) / Raw(b"\0" * 20))
    got = [decode_frame(d, 0.0, len(d)) for d in (stp, pvst, other_llc, dhcp, dns)]
    assert [(f.is_bpdu, f.is_dhcp) for f in got if f] == [
        (True, False),
        (True, False),
        (False, False),
        (False, True),
        (False, False),
    ]
    assert got[1] is not None
    assert got[1].vids == (20,)


# --- link types and containers --------------------------------------------------------


def test_cooked_sll_and_sll2(tmp_path: Path) -> None:
    inner = Dot1Q(vlan=20) / Dot1Q(vlan=100) / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP()
    sll = (
        CookedLinux(
            lladdrtype=1, lladdrlen=6, src=bytes.fromhex("020000000001") + b"\0\0", proto=0x8100
        )
        / inner
        / Raw(b"x" * 1472)
    )
    sll2 = (
        CookedLinuxV2(
            lladdrtype=1, lladdrlen=6, src=bytes.fromhex("020000000001") + b"\0\0", proto=0x8100
        )
        / inner
        / Raw(b"x" * 1472)
    )
    for pkt, linktype, header in ((sll, 113, 16), (sll2, 276, 20)):
        path = tmp_path / f"{linktype}.pcap"
        wrpcap(str(path), [pkt])
        cap = read_capture(path)
        [f] = cap.frames
        assert cap.stats.linktypes == {linktype: 1}
        assert f.cap_len == len(bytes(pkt)) == header + 8 + 1500
        assert f.wire_len == 1522  # as if it had a 14-byte Ethernet header
        assert (f.src_mac, f.dst_mac, f.vids, f.l3_offset) == (A, "", (20, 100), header + 8)
        assert f.ip_dst == "10.0.0.2"
        assert f.linktype == linktype


def test_scapy_pcapng_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "s.pcapng"
    writer = PcapNgWriter(str(path))
    for pkt in (Ether(ping(20, 100)), Ether(ping(20, payload=56))):
        writer.write(pkt)
    writer.close()
    cap = read_capture(path)
    assert cap.stats.format == "pcapng"
    assert [(f.vids, f.wire_len) for f in cap.frames] == [((20, 100), 1522), ((20,), 102)]


@pytest.mark.parametrize("e", ["<", ">"])
def test_pcapng_interfaces_options_and_unknown_blocks(e: str) -> None:
    sll = bytes(CookedLinux(lladdrtype=1, lladdrlen=6, proto=0x0800) / IP() / ICMP())
    data = b"".join(
        [
            ng_shb(e),
            ng_idb(1, e),  # microseconds
            ng_idb(113, e, tsresol=9, tsoffset=1000),  # nanoseconds, offset by 1000 s
            ng_block(0x0BAD, b"vendor stuff", e),  # unknown block: skipped
            ng_block(4, b"\0\0\0\0", e),  # name resolution: not needed, skipped
            ng_epb(0, 5_500_000, ping(20, 100), e),
            ng_epb(1, 2_250_000_000, sll, e),
            ng_epb(7, 0, ping(), e),  # no such interface
            ng_block(3, struct.pack(e + "I", 60) + ping(payload=18)[:60], e),  # simple packet
            ng_block(2, struct.pack(e + "HHIIII", 0, 0, 0, 1_000_000, 42, 42) + ping(payload=0), e),
        ]
    )
    frames, stats = frames_of(data)
    assert [(f.interface, f.linktype, f.wire_len) for f in frames] == [
        (0, 1, 1522),
        (1, 113, len(sll) - 2),
        (0, 1, 60),
        (0, 1, 42),
    ]
    assert frames[0].ts == pytest.approx(5.5)
    assert frames[1].ts == pytest.approx(1002.25)
    assert frames[3].ts == pytest.approx(1.0)
    assert (stats.unknown_blocks, stats.malformed, stats.frames) == (2, 1, 4)
    assert stats.linktypes == {1: 3, 113: 1}


def test_pcapng_sections_switch_byte_order() -> None:
    data = (
        ng_shb("<")
        + ng_idb(1, "<")
        + ng_epb(0, 1_000_000, ping(20), "<")
        + ng_shb(">")
        + ng_idb(1, ">")
        + ng_epb(0, 2_000_000, ping(20, 100), ">")
    )
    frames, stats = frames_of(data)
    assert [(f.ts, f.vids) for f in frames] == [(1.0, (20,)), (2.0, (20, 100))]
    assert stats.malformed == 0


def test_buffer_types_and_unsupported_linktype() -> None:
    data = pcap_bytes([ping(20)])
    for buf in (bytearray(data), memoryview(data)):
        [f] = iter_frames(buf)
        assert type(f.data) is bytes
        assert f.vids == (20,)
    frames, stats = frames_of(pcap_bytes([b"\0" * 40], linktype=105))
    assert frames == []
    assert stats.unsupported == 1
    assert stats.linktypes == {105: 1}


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "truncated global header"),
        (b"GET / HTTP/1.1\r\n" * 4, "not a pcap or pcapng capture"),
        (b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\xde\xad\xbe\xef" + b"\0" * 16, "byte-order magic"),
    ],
)
def test_bad_global_header_raises_at_once(data: bytes, message: str) -> None:
    with pytest.raises(PcapFormatError, match=message):
        iter_frames(data)  # not even iterated: the error comes before the first frame


def test_empty_and_garbage_files(tmp_path: Path) -> None:
    (tmp_path / "empty.pcap").write_bytes(b"")
    with pytest.raises(PcapFormatError, match="empty"):
        read_capture(tmp_path / "empty.pcap")
    (tmp_path / "junk.pcap").write_bytes(random.Random(1).randbytes(5000))
    with pytest.raises(PcapFormatError):
        read_capture(tmp_path / "junk.pcap")


def test_truncated_last_record_is_counted(tmp_path: Path) -> None:
    data = pcap_bytes([ping(20, 100), ping(20), ping(20, 100)])
    for cut in (100, 1530, 3):  # mid-frame, mid-record-header, a few bytes
        frames, stats = frames_of(data[:-cut] if cut != 1530 else data[: 24 + 16 + 1522 + 8])
        assert stats.truncated == 1
        assert len(frames) == (1 if cut == 1530 else 2)
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:-100])
    assert read_capture(path).stats.truncated == 1


def test_huge_declared_caplen_stops_without_reading_past_the_end() -> None:
    good = pcap_bytes([ping(20)])
    bad = good + struct.pack("<IIII", 1, 0, 0xFFFFFFF0, 0xFFFFFFF0) + ping(20)
    frames, stats = frames_of(bad)
    assert len(frames) == 1
    assert stats.malformed == 1
    assert stats.truncated == 0


def test_frames_too_short_for_their_headers_are_skipped() -> None:
    cut_tag = bytes(Ether(src=A, dst=B, type=0x8100)) + b"\x00"  # tag cut after one byte
    frames, stats = frames_of(pcap_bytes([b"\x01" * 10, cut_tag, ping(20), b""]))
    assert [f.vids for f in frames] == [(20,)]
    assert stats.malformed == 3
    assert stats.frames == 1


def test_pcapng_corrupt_block_length_and_missing_shb_fields() -> None:
    body = ng_shb() + ng_idb(1) + ng_epb(0, 0, ping(20))
    corrupt = body + struct.pack("<II", 6, 13) + b"\0" * 20 + ng_epb(0, 0, ping())
    frames, stats = frames_of(corrupt)
    assert len(frames) == 1
    assert stats.malformed == 1
    frames, stats = frames_of(body + ng_epb(0, 0, ping(20, 100))[:-30])
    assert len(frames) == 1
    assert stats.truncated == 1
    short_epb = ng_block(6, struct.pack("<IIIII", 0, 0, 0, 5000, 5000) + ping(20))
    frames, stats = frames_of(body + short_epb + ng_epb(0, 0, ping(30)))
    assert [f.vids for f in frames] == [(20,), (30,)]
    assert stats.malformed == 1


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_every_cut_point_is_handled(fmt: str) -> None:
    small = [ping(20, 100, payload=8), bytes(Dot3(dst="01:80:c2:00:00:00") / LLC() / STP())]
    if fmt == "pcap":
        data, header = pcap_bytes(small), 24
    else:
        data, header = ng_shb() + ng_idb(1) + b"".join(ng_epb(0, 0, d) for d in small), 12
    for cut in range(len(data) + 1):
        try:
            frames, stats = frames_of(data[:cut])
        except PcapFormatError:
            assert cut < header
            continue
        assert len(frames) <= 2
        assert stats.frames == len(frames)


def test_random_garbage_after_a_valid_header_never_raises() -> None:
    rng = random.Random(7)
    for _ in range(50):
        frames, stats = frames_of(pcap_bytes([ping(20)]) + rng.randbytes(rng.randrange(1, 400)))
        assert frames[0].vids == (20,)
        assert stats.frames == len(frames)


# --- live stream ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_stream_matches_whole_buffer_for_any_chunking(fmt: str) -> None:
    pkts = [ping(20, 100, seq=i) if i % 2 else ping(20, payload=56, seq=i) for i in range(12)]
    data = (
        pcap_bytes(pkts)
        if fmt == "pcap"
        else ng_shb() + ng_idb(1) + b"".join(ng_epb(0, i, d) for i, d in enumerate(pkts))
    )
    expected, _ = frames_of(data)
    rng = random.Random(3)
    for sizes in ([1] * 50, [3, 7, 23], [1000], [len(data)]):
        stream, got, pos, i = FrameStream(), [], 0, 0
        while pos < len(data):
            size = sizes[i % len(sizes)] if i < 60 else rng.randrange(1, 3000)
            got += stream.feed(data[pos : pos + size])
            pos, i = pos + size, i + 1
        assert got == expected
        stats = stream.close()
        assert (stats.frames, stats.truncated) == (12, 0)  # nothing left pending


def test_stream_header_split_partial_record_and_close() -> None:
    data = pcap_bytes([ping(20), ping(20, 100)])
    stream = FrameStream()
    assert stream.feed(data[:2]) == []
    assert stream.feed(data[2:20]) == []
    assert [f.vids for f in stream.feed(data[20:-10])] == [(20,)]
    stats = stream.close()
    assert (stats.frames, stats.truncated) == (1, 1)


def test_stream_bad_header_and_corrupt_record() -> None:
    with pytest.raises(PcapFormatError):
        FrameStream().feed(b"tcpdump: eth9: No such device exists\n")
    stream = FrameStream()
    corrupt = pcap_bytes([ping(20)]) + struct.pack("<IIII", 0, 0, 10**9, 10**9)
    assert len(stream.feed(corrupt)) == 1
    assert stream.feed(ping(20)) == []
    assert stream.close().malformed == 1


def test_impossible_lengths_are_malformed_records_with_their_offset() -> None:
    data = pcap_bytes([ping(20), ping(20), ping(30)], orig=[0xFFFFFFFF, 100, 1518])
    frames, stats = frames_of(data)
    assert [f.vids for f in frames] == [(30,)]
    assert stats.malformed == 2
    assert stats.first_problem == "offset 24: record orig_len 4294967295 > 262144"
    _, stats = frames_of(pcap_bytes([ping(20)], orig=[100]))
    assert stats.first_problem == "offset 24: record caplen 1518 > orig_len 100"


def test_provider_bridge_group_bpdus() -> None:
    pb = bytes(Dot3(src=A, dst="01:80:c2:00:00:08") / LLC() / STP())
    other = bytes(Dot3(src=A, dst="01:80:c2:00:00:0e") / LLC() / STP())  # LLDP group: no
    assert decode_frame(pb, 0.0, len(pb)).is_bpdu  # type: ignore[union-attr]
    assert not decode_frame(other, 0.0, len(other)).is_bpdu  # type: ignore[union-attr]


def test_pcapng_block_problems_name_the_block_and_offset() -> None:
    body = ng_shb() + ng_idb(1)
    _, stats = frames_of(body + ng_epb(3, 0, ping(20)))
    assert stats.first_problem == "offset 48: enhanced packet block: interface id 3, 1 defined"
    _, stats = frames_of(body + ng_epb(0, 0, ping(20), orig=100))
    assert stats.first_problem.startswith("offset 48: enhanced packet block: caplen 1518")


def test_oversized_blocks_are_skipped_unread_and_offsets_count_from_the_start() -> None:
    big = ng_block(0x00000BAD, b"\0" * (3 << 20))  # 3 MiB custom block: skipped, not kept
    data = ng_shb() + ng_idb(1) + ng_epb(0, 0, ping(20)) + big + ng_epb(0, 1, ping(30))
    data += ng_epb(7, 2, ping(40))  # an interface that does not exist: malformed
    stream, got = FrameStream(), []
    for at in range(0, len(data), 100_000):
        got += stream.feed(data[at : at + 100_000])
    stats = stream.close()
    assert [f.vids for f in got] == [(20,), (30,)]
    assert (stats.unknown_blocks, stats.malformed, stats.truncated) == (1, 1, 0)
    _, whole = frames_of(data)
    assert stats.first_problem == whole.first_problem
    assert whole.first_problem.startswith(f"offset {len(data) - len(ng_epb(7, 2, ping(40)))}:")
