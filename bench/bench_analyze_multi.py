"""``cloudtales analyze A B`` (several captures correlated) against ``analyze A``: time
and peak memory. Run on demand (never in CI):

    .venv/bin/python bench/bench_analyze_multi.py [--frames N]

Two classic pcaps of N Ethernet frames each are written to /tmp (and deleted): the
same ICMP echo requests and replies (1,000-byte payload, distinct id/seq) at point A
untagged and at point B with one 802.1Q tag, B's clock 2 ms late, every tenth reply
missing at A. Each command runs in its own process; ``peak RSS`` is that process's
``ru_maxrss``. The multi-file run decodes every frame in Python (the compiled kernel
only tallies) and matches the first ``multi_capture.WINDOW`` packets of each file.
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "tui.cli", "analyze", "--json"]


def frame(seq: int, reply: bool, tagged: bool) -> bytes:
    src, dst = (b"\x0a\x00\x00\x05", b"\xcb\x00\x71\x0a")
    if reply:
        src, dst = dst, src
    icmp = struct.pack("!BBHHH", 0 if reply else 8, 0, 0, seq >> 16, seq & 0xFFFF) + bytes(1000)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq & 0xFFFF, 0, 64, 1, 0, src, dst)
    eth = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01"
    eth += (b"\x81\x00\x00\x64" if tagged else b"") + b"\x08\x00"
    return eth + ip + icmp


def write(path: Path, frames: int, tagged: bool, late: float, drop_replies: bool) -> None:
    with path.open("wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(frames):
            seq, reply = i // 2, i % 2 == 1
            if drop_replies and reply and seq % 10 == 0:
                continue
            data = frame(seq, reply, tagged)
            ts = 1_700_000_000 + i * 0.0001 + late
            sec = int(ts)
            fh.write(struct.pack("<IIII", sec, int((ts - sec) * 1e6), len(data), len(data)))
            fh.write(data)


def run(args: list[str]) -> tuple[float, float]:
    start = time.perf_counter()
    with subprocess.Popen([*CLI, *args], cwd=ROOT, stdout=subprocess.DEVNULL) as proc:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, args
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=200_000)
    n = ap.parse_args().frames
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "a.pcap", Path(tmp) / "b.pcap"
        write(a, n, tagged=False, late=0.0, drop_replies=True)
        write(b, n, tagged=True, late=0.002, drop_replies=False)
        size = a.stat().st_size / 1e6
        print(f"{n:,} frames per file ({size:.0f} MB each)")
        print(f"{'command':<28} {'wall s':>8} {'peak RSS MB':>12}")
        for label, argv in (
            ("analyze A", [str(a)]),
            ("analyze A B (correlated)", [str(a), str(b)]),
        ):
            wall, rss = run(argv)
            print(f"{label:<28} {wall:>8.2f} {rss:>12.1f}")


if __name__ == "__main__":
    main()
