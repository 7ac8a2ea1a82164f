"""`cloudtales analyze A B ...` on real captures recorded from the labs.

tests/captures/the-issue-*.pcap: the faulty "The Issue" lab (record_the_issue.sh),
tcpdump on the controller's br100 and the instance's eth0 while the stalled tap drops
dnsmasq's replies: 15 client messages at both points, 15 replies at the controller only.
tests/captures/double-vlan-*.pcap: the faulty "Double VLAN" lab (record_double_vlan.sh),
tcpdump on outside's eth0 and the compute's bond0 during ``ping -M do -s 1468`` (fits)
and ``-s 1472`` (its replies carry two tags and die at the controller).
"""

from __future__ import annotations

import io
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from engine.analyzers.multi_report import Point, points_of, stream_points
from engine.errors import CloudtalesError

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
CONTROLLER = str(CAPTURES / "the-issue-controller.pcap")
INSTANCE = str(CAPTURES / "the-issue-instance.pcap")
OUTSIDE = str(CAPTURES / "double-vlan-outside.pcap")
COMPUTE = str(CAPTURES / "double-vlan-compute.pcap")
CLI = [sys.executable, "-m", "tui.cli", "analyze"]
ISSUE = ["--point", f"controller={CONTROLLER}", "--point", f"instance={INSTANCE}"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def shifted(src: str, dst: Path, seconds: int) -> str:
    """A copy of a classic little-endian pcap with every timestamp moved: a host whose
    clock is off."""
    data = bytearray(Path(src).read_bytes())
    assert data[:4] == b"\xd4\xc3\xb2\xa1"
    pos = 24
    while pos < len(data):
        sec, _usec, incl, _orig = struct.unpack_from("<IIII", data, pos)
        struct.pack_into("<I", data, pos, sec + seconds)
        pos += 16 + incl
    dst.write_bytes(data)
    return str(dst)


def test_the_issue_text_says_which_acks_never_reached_the_instance() -> None:
    proc = cli(*ISSUE)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    text = out[out.index("correlation of 2 captures") :]
    assert "path instance -> controller (inferred: client side first" in text
    assert "xid 0x1e889c43: controller sent 9 ACK, instance received 0" in text
    assert "xid 0x08716853: controller sent 6 OFFER, instance received 0" in text
    assert (
        "xid 0x1e889c43 fa:16:3e:00:00:05: instance REQUEST x9; controller REQUEST x9, ACK x9"
        in text
    )
    assert (
        "30 packets matched across instance -> controller; 15 seen at the end of their path" in text
    )
    assert "15 packets vanish after controller" in text
    lost_acks = [ln for ln in text.splitlines() if "DHCP ACK xid 0x1e889c43: controller" in ln]
    assert len(lost_acks) == 9
    assert all(re.match(r"  \d\d:\d\d:\d\d\.\d{3} 10\.0\.0\.1 > ", ln) for ln in lost_acks)
    assert all(ln.endswith("controller [untagged] 342 -> lost") for ln in lost_acks)
    assert "window: the first 20,000 IPv4 packets of each file are matched (cap); every" in text
    assert "clock: controller clock +0.107 ms against instance (15 matched packets" in text
    # each capture's own findings come first, unchanged in form
    assert out.startswith(f"{CONTROLLER}: 30 frames (pcap, Ethernet)")
    assert f"{INSTANCE}: 15 frames (pcap, Ethernet)" in out


def test_the_issue_json_carries_the_correlation() -> None:
    proc = cli(*ISSUE, "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert list(got) == ["captures", "correlation"]
    assert [c["point"] for c in got["captures"]] == ["controller", "instance"]
    assert got["captures"][0]["dhcp"] == {"REQUEST": 9, "ACK": 9, "DISCOVER": 6, "OFFER": 6}
    corr = got["correlation"]
    assert corr["path_order"] == ["instance", "controller"]
    assert corr["dhcp_server_point"] == "controller"
    assert corr["summary"]["packets_lost"] == 15
    assert corr["summary"]["lost_after"] == "controller"
    assert corr["window"]["max_packets_per_file"] == 20_000
    assert corr["window"]["packets_not_judged"] == 0
    ack = next(d for d in corr["dhcp"] if d["xid"] == "0x1e889c43")
    assert ack["seen"] == {"instance": {"REQUEST": 9}, "controller": {"REQUEST": 9, "ACK": 9}}
    assert [m["type"] for m in ack["not_delivered"]] == ["ACK"] * 9
    assert {m["last_seen"] for m in ack["not_delivered"]} == {"controller"}
    assert "xid 0x1e889c43: controller sent 9 ACK, instance received 0" in corr["dhcp_delivery"]
    lost = [p for p in corr["packets"] if not p["delivered"]]
    assert len(lost) == 15
    assert all(p["direction"] == "reverse" for p in lost)
    inst = next(p for p in corr["points"] if p["name"] == "instance")
    assert inst["clock_method"] == "reference"


def test_the_path_order_does_not_depend_on_the_command_line() -> None:
    for files in ([CONTROLLER, INSTANCE], [INSTANCE, CONTROLLER]):
        report = stream_points(points_of(files, []))
        assert report.multi.order == ["the-issue-instance", "the-issue-controller"]


def test_double_vlan_tags_added_and_replies_lost() -> None:
    proc = cli(OUTSIDE, COMPUTE)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout[proc.stdout.index("correlation of 2 captures") :]
    assert "path double-vlan-outside -> double-vlan-compute" in text
    assert "double-vlan-outside -> double-vlan-compute adds a tag (6 packets)" in text
    assert "stacked tags first seen at double-vlan-compute" in text
    lost = [ln for ln in text.splitlines() if "ICMP echo reply id 31046" in ln]
    assert len(lost) == 3
    assert all("double-vlan-compute [20,100] 1522 -> lost" in ln for ln in lost)
    fits = [ln for ln in text.splitlines() if "ICMP echo reply id 31045 seq 1" in ln]
    assert "double-vlan-compute [20,100] 1518 -> double-vlan-outside [untagged] 1510" in fits[0]
    assert "both directions; one-way delay" in text


def test_clock_offset_between_hosts_is_estimated(tmp_path: Path) -> None:
    late = shifted(COMPUTE, tmp_path / "compute.pcap", 7)
    report = stream_points([Point("outside", OUTSIDE), Point("compute", late)])
    m = report.multi
    (offset,) = m.offsets
    assert offset.method == "both directions"
    assert offset.offset is not None
    assert 6.999 < offset.offset < 7.001
    assert m.not_judged == 0  # the lost replies are still judged, not cut by the clocks
    assert m.correlation.facts()["packets_lost"] == 4  # 3 echo replies and an IGMP report


def test_window_cap_is_stated() -> None:
    report = stream_points([Point("controller", CONTROLLER), Point("instance", INSTANCE)], window=4)
    text = report.to_text()
    assert "controller: " in text
    assert "4 IPv4 packets matched" in text
    assert "26 later ones counted, not matched" in text
    assert "window: the first 4 IPv4 packets of each file are matched (cap)" in text
    got = report.to_dict()["correlation"]
    assert isinstance(got, dict)
    assert got["window"]["max_packets_per_file"] == 4
    # requests 3 and 4 at the instance came after the controller's window was cut
    assert "2 packet(s) seen at some points only, outside the span every window covers" in text
    assert report.multi.correlation.facts()["packets_lost"] == 2  # the first two ACKs
    # the single-file findings still count every frame
    assert report.reports[0].vlan.frames == 30


def test_one_file_is_the_single_capture_analysis() -> None:
    one = cli(CONTROLLER)
    assert one.returncode == 0
    assert "correlation" not in one.stdout
    assert one.stdout.startswith(f"{CONTROLLER}: 30 frames")
    named = cli("--point", f"controller={CONTROLLER}", "--json")
    assert named.returncode == 0
    assert "correlation" not in json.loads(named.stdout)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        ([CONTROLLER, "/nonexistent/b.pcap"], "/nonexistent/b.pcap: no such file"),
        (["--point", "controller", INSTANCE], "--point controller: expected NAME=FILE"),
        (["-", "-"], "- (standard input) can be given once only"),
        (["--point", "=x.pcap"], "--point =x.pcap: expected NAME=FILE"),
        ([CONTROLLER, __file__], "not a readable pcap/pcapng capture"),
        ([], "analyze needs a capture FILE"),
    ],
)
def test_bad_input_is_one_line(args: list[str], line: str) -> None:
    proc = cli(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    (said,) = proc.stderr.splitlines()
    assert said.startswith("cloudtales: error: ")
    assert line in said


def test_points_are_labelled_by_file_name() -> None:
    got = points_of(["a/eth0.pcap", "b/eth0.pcapng", "-"], ["ctl=x.pcap"])
    assert [p.name for p in got] == ["ctl", "eth0", "eth0#2", "stdin"]
    with pytest.raises(CloudtalesError, match="NAME=FILE"):
        points_of([], ["=x.pcap"])


def test_a_stream_on_standard_input_is_one_point() -> None:
    data = Path(INSTANCE).read_bytes()
    proc = subprocess.run(
        [*CLI, CONTROLLER, "-", "--json"], input=data, capture_output=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    corr = json.loads(proc.stdout)["correlation"]
    assert corr["path_order"] == ["stdin", "the-issue-controller"]
    assert io.StringIO(proc.stdout.decode()).read().count("(standard input)") >= 1


def test_an_empty_capture_calls_nothing_lost(tmp_path: Path) -> None:
    """A capture without a single frame has no time span: nothing the others saw can be
    called lost on its account."""
    empty = tmp_path / "instance.pcap"
    empty.write_bytes(Path(INSTANCE).read_bytes()[:24])
    report = stream_points([Point("controller", CONTROLLER), Point("instance", str(empty))])
    text = report.to_text()
    assert "30 packet(s) seen at some points only, outside the span every window covers" in text
    assert "no packet seen at more than one point" in text
    assert "vanish" not in text
    assert "instance received" not in text  # it saw none of the conversation
