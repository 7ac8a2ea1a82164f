"""`cloudtales analyze` on odd and bad input: one clear line or honest findings, both
scanning paths (compiled kernel and pure Python) giving the same answer."""

from __future__ import annotations

import io
import json
import os
import re
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine.analyzers.capture_report import analyze_stream, run_analyze
from engine.errors import CloudtalesError
from engine.parsers.pcap_kernel import load
from engine.parsers.pcap_scan import parse_tcpdump_drop_stats
from tests.engine.capture_samples import (
    bpdu,
    captures,
    cooked,
    dhcp,
    mixed_pcap,
    with_xid,
)
from tests.engine.test_pcap import ng_epb, ng_idb, ng_shb, pcap_bytes, ping

CLI = [sys.executable, "-m", "tui.cli", "analyze"]


def analyze(data: bytes, *, as_json: bool = True, pure: bool = False, mtu: int = 1500) -> str:
    return analyze_stream(io.BytesIO(data), "t.pcap", mtu, as_json, pure)


def findings(data: bytes, pure: bool = False) -> dict[str, object]:
    out: dict[str, object] = json.loads(analyze(data, pure=pure))
    return out


def test_the_compiled_kernel_is_built() -> None:
    assert load() is not None, "run .ci/setup (python -m engine.parsers.pcap_kernel build)"


@pytest.mark.parametrize(("name", "data"), captures().items(), ids=list(captures()))
def test_kernel_and_pure_python_give_identical_findings(name: str, data: bytes) -> None:
    for as_json in (True, False):
        fast = analyze(data, as_json=as_json)
        assert fast == analyze(data, as_json=as_json, pure=True), name
    for mtu in (68, 1496, 9000):  # other limits move frames across the oversize line
        assert analyze(data, mtu=mtu) == analyze(data, mtu=mtu, pure=True)


def test_mixed_capture_findings() -> None:
    got = findings(mixed_pcap())
    assert got["depth_counts"] == {"0": 21, "1": 15, "2": 12, "3": 3}
    assert got["bpdus"] == {"STP": 9, "PVST+": 3}  # 01:80:c2:00:00:08 counted too
    assert got["dhcp"] == {"DISCOVER": 3, "OFFER": 3, "REQUEST": 3, "ACK": 3}
    problems = got["capture_problems"]
    assert isinstance(problems, dict)
    assert problems["malformed"] == 9
    assert problems["first_malformed"] == (
        "offset 12546: frame of 10 bytes too short for its headers"
    )


def test_impossible_record_lengths_are_malformed_not_frames() -> None:
    huge = pcap_bytes([ping(20), ping(20), ping(30)], orig=[0xFFFFFFFF, 100, 1518])
    got = findings(huge)
    assert got["frames"] == 1
    assert got["oversize"] == 0  # a 4 GiB "frame" is not oversize, it is corrupt
    problems = got["capture_problems"]
    assert isinstance(problems, dict)
    assert problems["malformed"] == 2
    assert problems["first_malformed"] == "offset 24: record orig_len 4294967295 > 262144"
    assert findings(huge, pure=True) == got
    text = analyze(huge, as_json=False)
    assert "2 malformed record(s) (first at offset 24: record orig_len 4294967295" in text


def test_provider_bridge_bpdus_are_counted() -> None:
    got = findings(pcap_bytes([bpdu("01:80:c2:00:00:08"), bpdu("01:80:c2:00:00:08", 100)]))
    assert got["bpdus"] == {"STP": 2}
    stp = got["stp"]
    assert isinstance(stp, dict)
    assert stp["total"] == 2


def test_dhcp_conversation_cap_is_stated() -> None:
    base = dhcp("discover")
    frames = [with_xid(base, xid) for xid in range(50_000)]
    data = pcap_bytes(frames)
    text = analyze(data, as_json=False)
    assert "DHCP conversations (10,000 kept of 50,000 (cap 10,000), per xid):" in text
    assert "DHCP: DISCOVER 50000" in text
    caps = findings(data)["dhcp_caps"]
    assert isinstance(caps, dict)
    assert (caps["conversations_seen"], caps["conversations_seen_exact"]) == (50_000, True)


@pytest.mark.parametrize("linktype", [113, 276])
def test_cooked_captures_never_read_as_an_all_clear(linktype: int) -> None:
    data = pcap_bytes([cooked(linktype), cooked(linktype, payload=56)], linktype=linktype)
    text = analyze(data, as_json=False)
    assert "verdict: tags_hidden - VLAN tags cannot be seen" in text
    assert "oversize: none" not in text
    assert "oversize: unknown" in text
    got = findings(data)
    assert (got["verdict"], got["cooked_frames"]) == ("tags_hidden", 2)
    tagged = pcap_bytes([cooked(linktype, 20, 30)], linktype=linktype)
    assert findings(tagged)["verdict"] == "stacked"  # tags that did survive still count
    assert "warning: 1 frame(s) from a Linux cooked capture" in analyze(tagged, as_json=False)


def test_printed_times_round_to_the_microsecond() -> None:
    data = pcap_bytes([ping(20, 100)])  # 100.250000 s
    data = data[:24] + struct.pack("<II", 1_764_000_000, 150) + data[32:]
    [example] = findings(data)["examples"]  # type: ignore[misc]
    assert example.split()[0].endswith(".000150")


@pytest.mark.parametrize(
    ("tsresol", "tsoffset", "ticks"),
    [(0, 0, 2**63), (6, 2**62, 5), (0x80 | 0x7F, -(2**63), 1), (9, 0, 2**64 - 1)],
)
def test_pcapng_times_out_of_range_are_findings_not_crashes(
    tsresol: int, tsoffset: int, ticks: int
) -> None:
    data = ng_shb() + ng_idb(1, tsresol=tsresol, tsoffset=tsoffset)
    data += ng_epb(0, ticks, ping(20, 100)) + ng_epb(0, ticks, dhcp("discover"))
    text = analyze(data, as_json=False)
    assert "2 frames" in text
    if abs(ticks / (2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10**tsresol) + tsoffset) > 2**34:
        assert re.search(
            r"2 frame\(s\) with an impossible timestamp \(first at offset \d+: "
            r"enhanced packet block on interface 0 \(if_tsresol",
            text,
        )
        assert "(time " in text
    json.loads(analyze(data))


def test_bad_headers_name_the_field_and_offset() -> None:
    bad_bom = ng_shb()[:8] + b"\xde\xad\xbe\xef" + ng_shb()[12:]
    with pytest.raises(CloudtalesError, match="section header block at offset 0: byte-order"):
        analyze(bad_bom)
    with pytest.raises(CloudtalesError, match="magic 0x47455420 at offset 0"):
        analyze(b"GET / HTTP/1.1\r\n")
    with pytest.raises(CloudtalesError, match="ends at offset 10"):
        analyze(pcap_bytes([])[:10])
    with pytest.raises(CloudtalesError, match="empty: 0 bytes"):
        analyze(b"")
    corrupt = ng_shb() + ng_idb(1) + struct.pack("<II", 6, 13) + b"\0" * 20
    text = analyze(corrupt, as_json=False)
    assert "first at offset 48: enhanced packet block: block length 13" in text


def test_fifo_device_directory_and_missing_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # no writer: opening it would block forever
    with pytest.raises(CloudtalesError, match=r"is a FIFO, not a capture file; .* analyze -"):
        run_analyze(str(fifo))
    with pytest.raises(CloudtalesError, match="/dev/zero: is a device"):
        run_analyze("/dev/zero")
    with pytest.raises(CloudtalesError, match="is a directory"):
        run_analyze(str(tmp_path))
    with pytest.raises(CloudtalesError, match="no such file"):
        run_analyze(str(tmp_path / "nope.pcap"))


def test_cli_refuses_a_fifo_in_one_line(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proc = subprocess.run([*CLI, str(fifo)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"cloudtales: error: {fifo}: is a FIFO")


def test_cli_reads_standard_input() -> None:
    data = mixed_pcap()
    proc = subprocess.run([*CLI, "-", "--json"], input=data, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["path"] == "(standard input)"
    assert {k: v for k, v in got.items() if k != "path"} == {
        k: v for k, v in findings(data).items() if k != "path"
    }


def test_tcpdump_drop_stats_line() -> None:
    lines = ["tcpdump: listening on eth0", "5 packets captured", "9 packets dropped by kernel"]
    assert parse_tcpdump_drop_stats(lines) == 9
    assert parse_tcpdump_drop_stats(["1 packet dropped by kernel"]) == 1
    assert parse_tcpdump_drop_stats(["tcpdump: eth0: No such device exists"]) is None


def test_a_pipe_delivering_small_pieces_gives_the_same_findings() -> None:
    data = captures()["pcapng"]  # blocks split across many partial reads
    for blob in (data, mixed_pcap()):
        read_fd, write_fd = os.pipe()

        def writer(payload: bytes = blob, fd: int = write_fd) -> None:
            with os.fdopen(fd, "wb", buffering=0) as out:
                for at in range(0, len(payload), 999):
                    out.write(payload[at : at + 999])

        thread = threading.Thread(target=writer)
        thread.start()
        with os.fdopen(read_fd, "rb", buffering=0) as stream:
            got = analyze_stream(stream, "t.pcap", 1500, True)
        thread.join()
        assert got == analyze(blob)


def test_the_analyze_path_imports_no_ui_or_crafting_library(tmp_path: Path) -> None:
    path = tmp_path / "m.pcap"
    path.write_bytes(mixed_pcap())
    code = (
        "import sys, json\n"
        "from tui.cli import main\n"
        f"assert main(['analyze', {str(path)!r}, '--json']) == 0\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = {name.split(".")[0] for name in json.loads(proc.stderr.strip().splitlines()[-1])}
    assert not loaded & {"scapy", "textual", "rich", "asyncssh", "pydantic", "numpy", "yaml"}
