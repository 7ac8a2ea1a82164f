"""Capture scanning speed: cloudtales' pcap scanner against tcpdump, tshark and scapy.

Run on demand (never in CI):
``.venv/bin/python bench/bench_pcap.py [--frames N | --quick] [--json-out FILE] [--reuse]``.

1. A classic pcap of N Ethernet frames (default 1,000,000) is written fresh on every
   run to ``/tmp/cloudtales-bench-<N>.pcap`` (+ ``.json`` with the expected counts) and
   deleted at the end (``--reuse`` keeps and reuses it). A handful of templates are
   built with scapy (untagged / one 802.1Q tag / two stacked tags ICMP of several sizes
   up to 1522-byte frames, STP BPDUs, DHCP DISCOVER/OFFER), then the records are written
   with ``struct``. The templates repeat in a shuffled 1,000-frame block, so every
   prefix of the file has the same mix.
2. Each method runs once, in its own process, on the same file (already in the page
   cache): ``cloudtales analyze FILE --json`` as a user runs it (whole process), the
   same fed through a pipe by ``cat`` (``analyze -``, the live-capture case), and with
   ``CLOUDTALES_PURE_PYTHON=1`` (the fallback without the compiled kernel); the engine's
   ``stream_report`` timed in-process both ways; tcpdump with a ``vlan and vlan``
   filter (the anchor), tshark ``-T fields -e vlan.id``, scapy ``RawPcapReader`` +
   struct and scapy ``PcapReader``. Slow methods run on a stated prefix (labelled).
3. The three CLI runs' JSON findings are compared key by key: the kernel, the pipe and
   the pure-Python path must agree (exit status 1 otherwise).

Columns: ``timed s`` is the measured region (for Python methods the scan itself,
imports and interpreter start excluded; for external tools the whole process);
``frames/s`` = frames / timed s; ``wall s`` is the whole process; ``CPU s`` comes from
``wait4`` on that process and ``peak RSS`` from its ``VmHWM`` (sampled every 10 ms, and
reported by the Python workers themselves at the end). ``x tcpdump`` is frames/s over
tcpdump's. ``--json-out FILE`` writes ``{"bench": "pcap", "rows": [{"what", "value",
"unit", "anchor", "anchor_value", "ratio"}]}``. ``stacked`` is how many double-tagged
frames the method found; ``check`` compares it with the generator's count.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import random
import shutil
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENERATOR_VERSION = 1
BLOCK = 1000  # templates are laid out in a shuffled block of this many frames
TSHARK_BUDGET = 60.0  # seconds for tshark on the whole file before falling back to a prefix
TSHARK_PREFIX = 100_000
SCAPY_PREFIX = 20_000
ROOT = Path(__file__).resolve().parent.parent
TCPDUMP = "tcpdump"
FAST = "engine stream_report (kernel), scan only"
PURE = "engine stream_report (pure), scan only"
STRUCT = "baseline: struct, headers + TPIDs only"
SCAPY_RAW = "scapy RawPcapReader + struct"

# (name, category, frames per BLOCK); the builders are in _templates()
MIX = [
    ("untagged icmp 98", "untagged", 200),
    ("untagged icmp 590", "untagged", 100),
    ("untagged icmp 1514", "untagged", 97),
    ("1 tag icmp 102", "single", 150),
    ("1 tag icmp 1018", "single", 100),
    ("1 tag icmp 1518", "single", 100),
    ("2 tags icmp 106", "double", 100),
    ("2 tags icmp 1022", "double", 60),
    ("2 tags icmp 1518", "double", 50),
    ("2 tags icmp 1522", "double", 40),
    ("stp bpdu", "bpdu", 1),
    ("dhcp discover", "dhcp", 1),
    ("dhcp offer", "dhcp", 1),
]


# ---- the capture file -------------------------------------------------------------------
def _templates() -> dict[str, bytes]:
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.inet import ICMP, IP, UDP
    from scapy.layers.l2 import LLC, STP, Dot1Q, Dot3, Ether

    a, b = "52:54:00:00:00:0a", "52:54:00:00:00:0b"

    def icmp(ip_len: int, vids: tuple[int, ...]) -> bytes:
        pkt: Any = Ether(src=a, dst=b)
        for vid in vids:
            pkt = pkt / Dot1Q(vlan=vid)
        payload = b"\x00" * (ip_len - 28)
        pkt = pkt / IP(src="10.0.100.4", dst="10.0.100.5") / ICMP(id=4242, seq=7) / payload
        return bytes(pkt)

    mac = bytes.fromhex("525400000099")
    dhcp_common: dict[str, Any] = {"chaddr": mac + b"\x00" * 10, "xid": 0x1234}
    built = {
        "untagged icmp 98": icmp(84, ()),
        "untagged icmp 590": icmp(576, ()),
        "untagged icmp 1514": icmp(1500, ()),
        "1 tag icmp 102": icmp(84, (100,)),
        "1 tag icmp 1018": icmp(1000, (100,)),
        "1 tag icmp 1518": icmp(1500, (100,)),
        "2 tags icmp 106": icmp(84, (20, 100)),
        "2 tags icmp 1022": icmp(1000, (20, 100)),
        "2 tags icmp 1518": icmp(1496, (20, 100)),
        "2 tags icmp 1522": icmp(1500, (20, 100)),
        "stp bpdu": bytes(
            Dot3(src=a, dst="01:80:c2:00:00:00") / LLC(dsap=0x42, ssap=0x42, ctrl=3) / STP()
        ),
        "dhcp discover": bytes(
            Ether(src="52:54:00:00:00:99", dst="ff:ff:ff:ff:ff:ff")
            / IP(src="0.0.0.0", dst="255.255.255.255")
            / UDP(sport=68, dport=67)
            / BOOTP(**dhcp_common)
            / DHCP(options=[("message-type", "discover"), "end"])
        ),
        "dhcp offer": bytes(
            Ether(src=a, dst="52:54:00:00:00:99")
            / IP(src="10.0.0.1", dst="10.0.0.50")
            / UDP(sport=67, dport=68)
            / BOOTP(op=2, yiaddr="10.0.0.50", **dhcp_common)
            / DHCP(options=[("message-type", "offer"), ("server_id", "10.0.0.1"), "end"])
        ),
    }
    sizes = {name: int(name.rsplit(" ", 1)[1]) for name in built if name.split()[-1].isdigit()}
    for name, size in sizes.items():
        assert len(built[name]) == size, (name, len(built[name]))
    return built


def make_capture(frames: int, reuse: bool = False) -> tuple[Path, dict[str, Any], bool]:
    """A capture of ``frames`` frames, its expected counts, and whether it was built now.
    Built fresh on every run unless ``reuse`` (``--reuse``: keep the last one)."""
    path = Path(f"/tmp/cloudtales-bench-{frames}.pcap")
    meta_path = path.with_suffix(".json")
    if reuse and path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("version") == GENERATOR_VERSION and path.stat().st_size == meta["bytes"]:
            return path, meta, False
    t0 = time.perf_counter()
    built = _templates()
    block: list[tuple[str, str]] = [(n, cat) for n, cat, k in MIX for _ in range(k)]
    assert len(block) == BLOCK
    random.Random(7).shuffle(block)
    rec = struct.Struct("<IIII").pack
    datas = [built[n] for n, _ in block]
    counts: dict[str, int] = {}
    tmp = path.with_suffix(".tmp")
    base, size = 1_764_000_000, 24
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for start in range(0, frames, 100_000):
            parts: list[bytes] = []
            for i in range(start, min(frames, start + 100_000)):
                data = datas[i % BLOCK]
                usec = i * 10  # one frame every 10 microseconds
                parts.append(rec(base + usec // 1_000_000, usec % 1_000_000, len(data), len(data)))
                parts.append(data)
            chunk = b"".join(parts)
            size += len(chunk)
            fh.write(chunk)
    for i in range(frames):  # exact counts for the checks (cheap next to the writing)
        cat = block[i % BLOCK][1]
        counts[cat] = counts.get(cat, 0) + 1
    os.replace(tmp, path)
    prefix = {str(n): _prefix_counts(block, n) for n in (TSHARK_PREFIX, SCAPY_PREFIX)}
    meta = {
        "version": GENERATOR_VERSION,
        "frames": frames,
        "bytes": size,
        "counts": counts,
        "prefix_counts": prefix,
        "build_seconds": round(time.perf_counter() - t0, 2),
    }
    meta_path.write_text(json.dumps(meta, indent=1))
    return path, meta, True


def _prefix_counts(block: list[tuple[str, str]], n: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for i in range(n):
        cat = block[i % BLOCK][1]
        counts[cat] = counts.get(cat, 0) + 1
    return counts


# ---- the Python methods (each runs in a child: ``--worker NAME``) --------------------------
def _w_engine(path: str, limit: int, pure: bool) -> dict[str, Any]:
    from engine.analyzers.capture_report import stream_report

    with open(path, "rb", buffering=0) as fh:
        t0 = time.perf_counter()
        report = stream_report(fh, path, pure=pure)
        secs = time.perf_counter() - t0
    note = f"BPDUs {sum(report.bpdus.values())}, DHCP {report.dhcp}"
    v = report.vlan
    return {"frames": v.frames, "stacked": v.stacked_frames, "seconds": secs, "note": note}


def _w_engine_fast(path: str, limit: int) -> dict[str, Any]:
    return _w_engine(path, limit, pure=False)


def _w_engine_pure(path: str, limit: int) -> dict[str, Any]:
    return _w_engine(path, limit, pure=True)


def _w_struct(path: str, limit: int) -> dict[str, Any]:
    """Baseline: record headers and tag count only, no Frame objects."""
    rec = struct.Struct("<IIII").unpack_from
    frames = stacked = 0
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        t0 = time.perf_counter()
        pos, end = 24, len(mm)
        while pos + 16 <= end:
            incl = rec(mm, pos)[2]
            off = pos + 28
            if mm[off : off + 2] == b"\x81\x00" and mm[off + 4 : off + 6] == b"\x81\x00":
                stacked += 1
            frames += 1
            pos += 16 + incl
        secs = time.perf_counter() - t0
    return {"frames": frames, "stacked": stacked, "seconds": secs}


def _w_scapy_raw(path: str, limit: int) -> dict[str, Any]:
    from scapy.utils import RawPcapReader

    tpid = struct.Struct("!H").unpack_from
    frames = stacked = 0
    t0 = time.perf_counter()
    with RawPcapReader(path) as reader:
        for data, _meta in reader:
            frames += 1
            if tpid(data, 12)[0] == 0x8100 and tpid(data, 16)[0] == 0x8100:
                stacked += 1
    return {"frames": frames, "stacked": stacked, "seconds": time.perf_counter() - t0}


def _w_scapy_full(path: str, limit: int) -> dict[str, Any]:
    from scapy.layers.l2 import Dot1Q
    from scapy.utils import PcapReader

    frames = stacked = 0
    t0 = time.perf_counter()
    with PcapReader(path) as reader:
        for pkt in reader:
            frames += 1
            if pkt.haslayer(Dot1Q) and isinstance(pkt[Dot1Q].payload, Dot1Q):
                stacked += 1
            if frames >= limit:
                break
    return {"frames": frames, "stacked": stacked, "seconds": time.perf_counter() - t0}


WORKERS = {
    "engine-fast": _w_engine_fast,
    "engine-pure": _w_engine_pure,
    "struct": _w_struct,
    "scapy-raw": _w_scapy_raw,
    "scapy-full": _w_scapy_full,
}


# ---- running and measuring ---------------------------------------------------------------
@dataclass
class Row:
    method: str
    scope: str
    frames: int
    stacked: int | None
    expected: int | None
    timed: float
    wall: float
    cpu: float
    rss_mb: float
    note: str = ""
    key: str = ""  # machine-readable name (--json-out)
    findings: dict[str, Any] | None = None  # the CLI's --json output

    @property
    def rate(self) -> float:
        return self.frames / self.timed if self.timed else 0.0


def vm_hwm_mb(pid: int | str = "self") -> float:
    """Peak RSS of one process (VmHWM). Not ``ru_maxrss``: after a vfork+exec that also
    counts the parent's peak, so every child would report at least the parent's size."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _sample_hwm(pid: int, peak: list[float], done: threading.Event) -> None:
    while not done.wait(0.01):  # VmHWM only grows: the last reading before exit is the peak
        peak[0] = max(peak[0], vm_hwm_mb(pid))


def _run(
    argv: list[str],
    timeout: float | None = None,
    env: dict[str, str] | None = None,
    pipe_from: Path | None = None,
) -> tuple[bytes, float, float, float, bool]:
    """stdout, wall s, CPU s, peak RSS MB, timed out. Counts stdout without keeping it all
    when it is large (tcpdump, tshark): only the last 8 MB is kept. ``pipe_from``: the
    file is pushed through a pipe by ``cat`` (a stream, not a seekable file)."""
    t0 = time.perf_counter()
    feeder = None
    if pipe_from is not None:
        feeder = subprocess.Popen(["cat", str(pipe_from)], stdout=subprocess.PIPE)
    proc = subprocess.Popen(
        argv,
        stdin=feeder.stdout if feeder else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    if feeder is not None and feeder.stdout is not None:
        feeder.stdout.close()
    assert proc.stdout is not None
    peak, done = [0.0], threading.Event()
    sampler = threading.Thread(target=_sample_hwm, args=(proc.pid, peak, done), daemon=True)
    sampler.start()
    os.set_blocking(proc.stdout.fileno(), True)
    tail, lines, commas = b"", 0, 0
    fired = threading.Event()

    def kill() -> None:
        fired.set()
        proc.kill()

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer:
        timer.start()
    fd = proc.stdout.fileno()
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        lines += chunk.count(b"\n")
        commas += chunk.count(b",")
        tail = (tail + chunk)[-(8 << 20) :]
    _, status, usage = os.wait4(proc.pid, 0)
    if feeder is not None:
        feeder.wait()
    done.set()
    sampler.join()
    if timer:
        timer.cancel()
    killed = fired.is_set()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    cpu = usage.ru_utime + usage.ru_stime
    head = f"{lines} {commas}\n".encode()
    return head + tail, wall, cpu, peak[0], killed


def run_worker(name: str, path: Path, expected: int, limit: int = 0, label: str = "") -> Row:
    argv = [sys.executable, __file__, "--worker", name, "--file", str(path), "--limit", str(limit)]
    out, wall, cpu, rss, _ = _run(argv)
    res = json.loads(out.decode().splitlines()[-1])
    rss = max(rss, res["rss_mb"])
    scope = f"first {limit:,} (prefix)" if limit else "whole file"
    return Row(
        label or name,
        scope,
        res["frames"],
        res["stacked"],
        expected,
        res["seconds"],
        wall,
        cpu,
        rss,
        res.get("note", ""),
        name,
    )


def run_cli(path: Path, expected: int, pure: bool = False, pipe: bool = False) -> Row:
    """``cloudtales analyze FILE --json`` as a user runs it: the whole process, timed
    from fork to exit (interpreter start, imports, scan, report). Returns its findings."""
    exe = ROOT / ".venv" / "bin" / "cloudtales"
    env = {**os.environ, "CLOUDTALES_PURE_PYTHON": "1" if pure else "0"}
    argv = [str(exe), "analyze", "-" if pipe else str(path), "--json"]
    out, wall, cpu, rss, _ = _run(argv, env=env, pipe_from=path if pipe else None)
    data = json.loads(out.split(b"\n", 1)[1])
    label = "cat FILE | cloudtales analyze - --json" if pipe else "cloudtales analyze FILE --json"
    key = "cli-pipe" if pipe else "cli"
    if pure:
        label, key = f"{label} (pure Python)", f"{key}-pure"
    row = Row(
        label,
        "whole file",
        data["frames"],
        data["stacked_frames"],
        expected,
        wall,
        wall,
        cpu,
        rss,
        "whole process: start, imports, scan, report",
        key,
        data,
    )
    return row


def run_tcpdump(path: Path, total: int, expected: int) -> Row:
    out, wall, cpu, rss, _ = _run(["tcpdump", "-nr", str(path), "vlan and vlan"])
    matched = int(out.split()[0])
    return Row(
        "tcpdump -nr FILE 'vlan and vlan' | wc -l",
        "whole file",
        total,
        matched,
        expected,
        wall,
        wall,
        cpu,
        rss,
        f"{matched:,} lines printed",
        TCPDUMP,
    )


def run_tshark(path: Path, total: int, meta: dict[str, Any], budget: float) -> Row:
    base = ["tshark", "-r", str(path), "-T", "fields", "-e", "vlan.id"]
    out, wall, cpu, rss, killed = _run(base, timeout=budget)
    label = "tshark -r FILE -T fields -e vlan.id"
    if not killed:
        lines, commas = map(int, out.split()[:2])
        return Row(
            label,
            "whole file",
            lines,
            commas,
            meta["counts"]["double"],
            wall,
            wall,
            cpu,
            rss,
            "stacked = lines with two VIDs",
            "tshark",
        )
    n = TSHARK_PREFIX
    out, wall, cpu, rss, _ = _run([*base, "-c", str(n)])
    lines, commas = map(int, out.split()[:2])
    exp = meta["prefix_counts"][str(n)]["double"]
    note = (
        f"whole file killed after {budget:g}s; {total:,} frames extrapolated: "
        f"{wall * total / n:.0f}s"
    )
    return Row(
        f"tshark -r FILE -c {n} -T fields -e vlan.id",
        f"first {n:,} (prefix)",
        lines,
        commas,
        exp,
        wall,
        wall,
        cpu,
        rss,
        note,
        "tshark",
    )


def best_of(n: int, run: Callable[[], Row]) -> Row:
    """The fastest of ``n`` runs (a loaded machine only ever adds time)."""
    return min((run() for _ in range(max(n, 1))), key=lambda r: r.timed)


def _anchor(rows: list[Row]) -> Row | None:
    return next((r for r in rows if r.key == TCPDUMP), None)


def print_table(rows: list[Row]) -> None:
    """Each rate next to its anchor: ``x tcpdump`` = frames/s over tcpdump's frames/s."""
    anchor = _anchor(rows)
    head = (
        f"{'method':<50} {'scope':<20} {'frames':>9} {'stacked':>8} {'check':>5} "
        f"{'timed s':>8} {'frames/s':>10} {'x tcpdump':>9} {'wall s':>7} {'CPU s':>6} "
        f"{'peak RSS':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        ok = "-" if r.stacked is None else ("ok" if r.stacked == r.expected else "DIFF")
        stacked = "-" if r.stacked is None else f"{r.stacked:,}"
        ratio = f"{r.rate / anchor.rate:.2f}" if anchor and anchor.rate else "-"
        print(
            f"{r.method:<50} {r.scope:<20} {r.frames:>9,} {stacked:>8} {ok:>5} "
            f"{r.timed:>8.2f} {r.rate:>10,.0f} {ratio:>9} {r.wall:>7.2f} {r.cpu:>6.2f} "
            f"{r.rss_mb:>6.0f} MB"
        )
    notes = [(r.method, r.note) for r in rows if r.note]
    if notes:
        print("\nnotes:")
        for method, note in notes:
            print(f"  {method}: {note}")


def json_rows(rows: list[Row]) -> list[dict[str, Any]]:
    """``{"what", "value", "unit", "anchor", "anchor_value", "ratio"}`` per figure: each
    rate against tcpdump's, and the CLI's peak RSS against tcpdump's."""
    anchor = _anchor(rows)
    name = anchor.method if anchor else ""
    out = []
    for r in rows:
        if r.key == TCPDUMP:
            continue
        base = anchor.rate if anchor else 0.0
        out.append(_figure(f"{r.method} ({r.scope})", r.rate, "frames/s", name, base))
        if r.key.startswith("cli"):
            base = anchor.rss_mb if anchor else 0.0
            out.append(_figure(f"{r.method}: peak RSS", r.rss_mb, "MB", name, base))
    return out


def _figure(what: str, value: float, unit: str, anchor: str, base: float) -> dict[str, Any]:
    """One row; anchor, anchor_value and ratio are null without tcpdump."""
    return {
        "what": what,
        "value": round(value, 2),
        "unit": unit,
        "anchor": anchor or None,
        "anchor_value": round(base, 2) if base else None,
        "ratio": round(value / base, 3) if base else None,
    }


def compare_findings(found: dict[str, dict[str, Any]]) -> list[str]:
    """Keys whose findings differ between the runs (the path aside)."""
    (first, ref), *others = found.items()
    diffs = []
    for name, data in others:
        for key in sorted(set(ref) | set(data)):
            if key != "path" and ref.get(key) != data.get(key):
                diffs.append(f"{name} vs {first}: {key}")
    return diffs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="100k frames")
    ap.add_argument(
        "--tshark-budget",
        type=float,
        default=TSHARK_BUDGET,
        help="seconds tshark may take on the whole file before a 100k prefix is used instead",
    )
    ap.add_argument("--json-out", metavar="FILE", help="also write the figures as JSON")
    ap.add_argument(
        "--repeat", type=int, default=1, help="run each method N times, keep the fastest"
    )
    ap.add_argument("--reuse", action="store_true", help="reuse the last capture of that size")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        res = WORKERS[args.worker](args.file, args.limit)
        print(json.dumps({**res, "rss_mb": vm_hwm_mb()}))
        return 0
    n = 100_000 if args.quick else args.frames
    if n < SCAPY_PREFIX:
        ap.error(f"--frames must be at least {SCAPY_PREFIX}")
    path, meta, fresh = make_capture(n, reuse=args.reuse)
    with open(path, "rb") as fh:  # page cache: every method reads from memory
        while fh.read(1 << 24):
            pass
    counts, double = meta["counts"], meta["counts"]["double"]
    print(
        f"capture: {path} ({meta['bytes'] / 1e6:.0f} MB, {n:,} frames; "
        + (f"built in {meta['build_seconds']:.1f}s" if fresh else "cached")
        + ")"
    )
    print("mix: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    load = os.getloadavg()
    print(f"host: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print()
    found: dict[str, dict[str, Any]] = {}
    k = args.repeat
    rows = []
    for pure, pipe in ((False, False), (False, True), (True, False)):
        row = best_of(k, lambda p=pure, q=pipe: run_cli(path, double, pure=p, pipe=q))  # type: ignore[misc]
        rows.append(row)
        found[("pure Python" if pure else "kernel") + (" via pipe" if pipe else "")] = (
            row.findings or {}
        )
    rows += [
        best_of(k, lambda: run_worker("engine-fast", path, double, label=FAST)),
        best_of(k, lambda: run_worker("engine-pure", path, double, label=PURE)),
        best_of(k, lambda: run_worker("struct", path, double, label=STRUCT)),
    ]
    if shutil.which("tcpdump"):
        rows.append(best_of(k, lambda: run_tcpdump(path, n, double)))
    else:
        print("tcpdump: not installed, skipped")
    if shutil.which("tshark"):
        rows.append(run_tshark(path, n, meta, args.tshark_budget))
    else:
        print("tshark: not installed, skipped")
    rows.append(best_of(k, lambda: run_worker("scapy-raw", path, double, label=SCAPY_RAW)))
    exp = meta["prefix_counts"][str(SCAPY_PREFIX)]["double"]
    rows.append(run_worker("scapy-full", path, exp, SCAPY_PREFIX, "scapy PcapReader"))
    print_table(rows)
    diffs = compare_findings(found)
    print(
        "\nfindings (--json) of "
        + ", ".join(found)
        + ": "
        + ("identical" if not diffs else "DIFFER: " + "; ".join(diffs))
    )
    if args.json_out:
        doc = {"bench": "pcap", "rows": json_rows(rows)}
        Path(args.json_out).write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {args.json_out}")
    if not args.reuse:
        path.unlink()
        path.with_suffix(".json").unlink()
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
