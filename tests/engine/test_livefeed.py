"""A live pane's tcpdump goes through the capture checks' scanner (FrameStream): real
tcpdump on the local runner, replaying a real lab capture into ``-w -``."""

from __future__ import annotations

from pathlib import Path

from engine.livefeed import live_lines
from engine.remote.inventory import Host
from engine.remote.local import LocalRunner

CAPTURE = Path(__file__).resolve().parents[1] / "captures" / "double-vlan-compute.pcap"


async def test_a_tcpdump_pane_describes_each_frame_and_marks_the_double_tags() -> None:
    runner = LocalRunner()
    host = Host(name="here", transport="local", become="none")
    try:
        lines = [line async for line in live_lines(runner, host, f"tcpdump -n -r {CAPTURE}")]
    finally:
        await runner.close()
    frames = [ln for ln in lines if not ln.text.startswith("tcpdump:")]
    assert len(frames) > 10
    assert any(ln.anomaly == "2 VLAN tags (20,100)" for ln in frames)
    assert any(ln.anomaly == "2 VLAN tags (20,100); oversize 1522 > 1518" for ln in frames)
    assert all(ln.source == f"here: tcpdump -n -r {CAPTURE}" for ln in lines)
    assert not any("dropped by kernel" in ln.text for ln in lines)  # a file drops nothing
