"""Seeded, bounded fuzzing of `cloudtales analyze`: mutations of valid pcap and pcapng
captures (byte and bit flips, truncation, block lengths, section headers, interface
options if_tsresol/if_tsoffset, dropped/duplicated blocks) never raise anything but
the one-line CloudtalesError naming an offset, and the compiled kernel and the
pure-Python path agree on every one. ``CLOUDTALES_FUZZ_ITER=200000`` runs a larger sweep.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from engine.analyzers.capture_report import CaptureReport, analyze_stream, stream_report
from engine.errors import CloudtalesError
from engine.parsers.pcap import PcapFormatError
from tests.engine.capture_samples import dhcp, mixed_pcap, mixed_pcapng
from tests.engine.test_pcap import ng_epb, ng_idb, ng_shb, pcap_bytes, ping

ITERATIONS = int(os.environ.get("CLOUDTALES_FUZZ_ITER", "2000"))
NAMES_A_PLACE = re.compile(r"offset \d+|0 bytes")
ODD_U32 = [0, 1, 4, 11, 12, 13, 16, 0x40000, 0x40001, 0x7FFFFFFF, 0xFFFFFFF0, 0xFFFFFFFF]


def seeds() -> list[bytes]:
    opts = ng_shb() + ng_idb(1, tsresol=9, tsoffset=1_700_000_000)
    opts += ng_idb(1, tsresol=0x80 | 20) + ng_idb(276)
    opts += b"".join(ng_epb(i % 2, 10**18 + i, ping(20, 100, seq=i)) for i in range(6))
    opts += ng_epb(0, 5, dhcp("discover")) + ng_epb(1, 6, dhcp("offer"))
    return [mixed_pcap(), mixed_pcap(endian=">", nano=True), mixed_pcapng(), opts,
            pcap_bytes([ping(20, 100)] * 4, snaplen=96)]  # fmt: skip


def blocks(data: bytes) -> list[int]:
    """Offsets of the pcapng blocks (little-endian seeds), or of the pcap records."""
    out, pos = [], 0
    if data[:4] != b"\x0a\x0d\x0d\x0a":
        pos = 24
        while pos + 16 <= len(data):
            out.append(pos)
            pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
        return out
    while pos + 8 <= len(data):
        out.append(pos)
        size = struct.unpack_from("<I", data, pos + 4)[0]
        if size < 12:
            break
        pos += size
    return out


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    starts = blocks(data) or [0]
    kind = rng.randrange(9)
    if kind == 0:  # byte flips
        for _ in range(rng.randint(1, 4)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
    elif kind == 1:  # a bit flip
        pos = rng.randrange(len(buf))
        buf[pos] ^= 1 << rng.randrange(8)
    elif kind == 2:  # truncation anywhere
        del buf[rng.randrange(len(buf)) :]
    elif kind == 3:  # a length or header field set to an odd value
        at = rng.choice(starts) + rng.choice([4, 8, 12, 16, 20, 24])
        if at + 4 <= len(buf):
            buf[at : at + 4] = struct.pack("<I", rng.choice(ODD_U32))
    elif kind == 4:  # the first header itself
        at = rng.choice([0, 4, 8, 12, 16, 20])
        buf[at : at + 4] = struct.pack("<I", rng.choice(ODD_U32))
    elif kind == 5:  # interface options: if_tsresol / if_tsoffset to extremes
        for m in re.finditer(rb"\x09\x00\x01\x00|\x0e\x00\x08\x00", bytes(buf)):
            if m.group()[0] == 9:
                buf[m.end()] = rng.choice([0, 9, 19, 127, 0x80, 0xBF, 0xFF])
            else:
                value = rng.choice([2**63 - 1, -(2**63), 2**40, -(2**40), 0])
                buf[m.end() : m.end() + 8] = struct.pack("<q", value)
    elif kind == 6:  # drop or duplicate a block / record
        i = rng.randrange(len(starts))
        a, b = starts[i], starts[i + 1] if i + 1 < len(starts) else len(buf)
        piece = bytes(buf[a:b])
        buf[a:b] = piece * 2 if rng.random() < 0.5 else b""
    elif kind == 7:  # a section header with a bad byte-order magic or a cut one
        shb = bytearray(ng_shb())
        if rng.random() < 0.5:
            shb[8:12] = rng.randbytes(4)
        at = rng.choice(starts)
        buf[at:at] = shb[: rng.randrange(8, len(shb) + 1)]
    else:  # random bytes inserted
        at = rng.randrange(len(buf) + 1)
        buf[at:at] = rng.randbytes(rng.randint(1, 64))
    return bytes(buf)


def outcome(data: bytes, pure: bool) -> str:
    """Both renderings, or the one-line error: what `cloudtales analyze` would print."""
    try:
        report: CaptureReport = stream_report(io.BytesIO(data), "f", 1500, pure)
    except PcapFormatError as exc:
        return f"error: {exc}"
    return json.dumps(report.to_dict()) + "\n" + report.to_text()


def check(data: bytes) -> bool:
    """True when analyze refuses the capture (with one line naming an offset)."""
    fast = outcome(data, pure=False)
    assert fast == outcome(data, pure=True), f"kernel and pure Python differ on {data[:64]!r}..."
    if fast.startswith("error: "):
        assert "\n" not in fast
        assert NAMES_A_PLACE.search(fast), fast
        return True
    return False


def run_fuzz(iterations: int, seed: int) -> int:
    """Refused captures among ``iterations`` seeded mutations (assertions on the way)."""
    rng, bases, errors = random.Random(seed), seeds(), 0
    for i in range(iterations):
        data = bases[i % len(bases)]
        for _ in range(rng.choice([1, 1, 2, 3])):
            data = mutate(rng, data) if data else data
        errors += check(data)
    return errors


def test_mutated_captures_never_crash_and_both_paths_agree() -> None:
    errors = run_fuzz(ITERATIONS, seed=20261204)
    assert 0 < errors < ITERATIONS  # both kinds of outcome were exercised


def test_cli_exit_status_and_one_line_on_mutated_files(tmp_path: Path) -> None:
    rng, bases = random.Random(11), seeds()
    cases = [mutate(rng, bases[i % len(bases)]) for i in range(6)]
    cases += [b"", b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\xde\xad\xbe\xef" + b"\0" * 16]
    for i, data in enumerate(cases):
        path = tmp_path / f"m{i}.pcap"
        path.write_bytes(data)
        proc = subprocess.run(
            [sys.executable, "-m", "tui.cli", "analyze", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "Traceback" not in proc.stderr
        expected = outcome(data, pure=False)
        if expected.startswith("error: "):
            assert proc.returncode == 2
            assert proc.stderr.count("\n") == 1
            assert proc.stderr.startswith(f"cloudtales: error: {path}: not a readable")
        else:
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.rstrip("\n") == expected.split("\n", 1)[1].replace(
                "f:", f"{path}:", 1
            )


def test_analyze_stream_wraps_format_errors_in_one_line() -> None:
    message = (
        "x.pcap: not a readable pcap/pcapng capture: truncated global header: "
        "the data ends at offset 5, inside the first header"
    )
    with pytest.raises(CloudtalesError, match=f"^{re.escape(message)}$"):
        analyze_stream(io.BytesIO(b"\xd4\xc3\xb2\xa1\x02"), "x.pcap")
