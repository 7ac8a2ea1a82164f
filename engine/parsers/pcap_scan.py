"""Stream a capture (a file or standard input) through the scanner in fixed-size blocks.

Memory stays bounded whatever the size of the capture: one 2 MiB buffer is refilled
with ``readinto`` and the records it holds are scanned in place. A classic pcap on an
Ethernet or Linux cooked link goes through the compiled kernel when it is built
(``engine.parsers.pcap_kernel``): it tallies plain frames itself and hands the others
(possible BPDUs and DHCP, odd or malformed records, the first few examples) to the
Python decoder. Otherwise every record is decoded in Python. Both give the same
findings; a ``FrameSink`` receives them.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import re
import stat
import struct
from collections.abc import Iterable
from io import FileIO
from typing import Protocol

from engine.errors import CloudtalesError
from engine.parsers.pcap import (
    LINKTYPE_NAMES,
    MAX_BLOCK,
    CaptureStats,
    Frame,
    PcapFormatError,
    _Scanner,
    decode_frame,
    header_cut,
)
from engine.parsers.pcap_kernel import MAX_IFACES, Kernel, KernelState, load

READ = 1 << 20  # bytes per read
PIPE_SIZE = 1 << 20  # a stdin pipe is widened to this (F_SETPIPE_SZ)
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
BUFFER = 2 * MAX_BLOCK + READ  # room for a whole block plus a read
HANDOVER = 65536  # offsets the kernel may hand over per call


class Readable(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


class FrameSink(Protocol):
    def add(self, frame: Frame) -> None:
        """A frame decoded in Python: count it in every finding."""

    def add_example(self, frame: Frame) -> None:
        """A frame the kernel already counted, offered as an oversize/stacked example."""

    def add_kernel(self, state: KernelState) -> None:
        """The kernel's tallies, once, at the end of the capture."""


def open_capture(path: str) -> FileIO:
    """The capture at ``path`` (``-``: standard input), unbuffered. A FIFO, socket or
    device is refused from its ``stat``, before it is opened (opening a FIFO without a
    writer would block forever); streams are read from standard input instead."""
    if path == "-":
        fd = os.dup(0)
        _widen_pipe(fd)
        return os.fdopen(fd, "rb", buffering=0)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise CloudtalesError(f"{path}: no such file") from None
    except OSError as exc:
        raise CloudtalesError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise CloudtalesError(f"{path}: is a directory, not a capture file")
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        )
        raise CloudtalesError(
            f"{path}: is {kind}, not a capture file; pipe a stream to standard input: "
            f"cloudtales analyze - < {path}"
        )
    try:
        return open(path, "rb", buffering=0)  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise CloudtalesError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _widen_pipe(fd: int) -> None:
    """A pipe on stdin holds 64 KiB; 1 MiB (the default pipe-max-size) lets the writer
    (tcpdump -w -, cat) run ahead of each scan step instead of switching every 64 KiB."""
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass  # a lower pipe-max-size, or not ours to change: the default size works


def _use_kernel(scanner: _Scanner) -> Kernel | None:
    if scanner.stats.format == "pcap" and scanner.iface.linktype not in LINKTYPE_NAMES:
        return None  # every record is on a link type we do not decode: nothing to tally
    return load()


class _Feeder:
    """One buffer, refilled from a stream or pushed into; ``mem[:have]`` is the valid part."""

    def __init__(self, size: int = BUFFER) -> None:
        self.buf = bytearray(size)
        self.mem = memoryview(self.buf)
        self.have = 0
        self.base = 0  # capture offset of buf[0]
        self.eof = False

    def fill(self, fh: Readable) -> None:
        """Read up to READ bytes; sets ``eof`` at the end of the stream. A pipe returns
        64 KiB or less a read, so it is read again until the READ is whole: one scan
        step per MiB, not per pipe buffer (each step costs a kernel call and a Python
        pass, so small steps made a pipe 3x slower than a file)."""
        end, start = self.have + READ, self.have
        while not self.eof and end <= len(self.buf) and self.have < end:
            n = fh.readinto(self.mem[self.have : end])
            if not n:  # the end: said by the next fill when this one got bytes, so the
                self.eof = self.have == start  # last bytes are scanned as not final
                break
            self.have += n

    def put(self, data: memoryview) -> int:
        """Copy what fits of ``data`` after the valid part (the buffer grows up to BUFFER
        first); returns how many bytes were taken."""
        size = len(self.buf)
        if self.have + len(data) > size and size < BUFFER:
            grown = bytearray(min(BUFFER, max(2 * size, self.have + len(data))))
            grown[: self.have] = self.mem[: self.have]
            self.buf, self.mem = grown, memoryview(grown)
        n = min(len(data), len(self.buf) - self.have)
        self.mem[self.have : self.have + n] = data[:n]
        self.have += n
        return n

    def drop(self, pos: int) -> None:
        """Forget the bytes before ``pos`` (scanned), keeping the rest at the front."""
        rest = self.have - pos
        if pos and rest:
            self.buf[:rest] = self.mem[pos : self.have]
        self.have, self.base = rest, self.base + pos


class ScanSession:
    """One pass of the scanner over a capture, whatever way its bytes arrive: read from a
    file or pipe (``scan_capture``) or pushed chunk by chunk from a live ``tcpdump -w -``
    stream (``push``). Frames go to ``sink``; ``pure``: every frame is decoded in Python
    (a sink that needs each frame); otherwise the compiled kernel tallies plain frames
    when it is built. ``finish`` ends the pass: a partial record left over counts as
    truncated and the kernel's tallies reach ``stats`` and ``sink``."""

    def __init__(
        self, sink: FrameSink, stats: CaptureStats, limit: int, pure: bool = False, size: int = 0
    ) -> None:
        self.sink, self.stats, self.limit, self.pure = sink, stats, limit, pure
        self.feed = _Feeder(size or BUFFER)
        self.scanner = _Scanner(stats)
        self.started = False  # the global or first section header has been read
        self.ended = False  # the final step ran: nothing more is scanned
        self.kernel: Kernel | None = None
        self.state: KernelState | None = None
        self._out: ctypes.Array[ctypes.c_uint64] | None = None

    @property
    def dead(self) -> bool:
        """A corrupt record header: nothing after it can be trusted (or read)."""
        return self.scanner.dead

    def push(self, chunk: bytes | bytearray | memoryview) -> None:
        """Scan a piece of a live stream. Raises PcapFormatError for a bad header."""
        data = memoryview(chunk).cast("B")
        while data and not self.ended and not self.scanner.dead:
            taken = self.feed.put(data)
            data = data[taken:]
            self.step(final=False)

    def step(self, final: bool) -> None:
        """Scan what the buffer holds; ``final``: no more bytes will come."""
        feed, scanner = self.feed, self.scanner
        if self.ended:
            return
        self.ended = final
        if scanner.dead:
            return
        view = feed.mem[: feed.have]
        if not self.started:
            if not scanner.start(view):
                if final:
                    raise PcapFormatError(header_cut(feed.have))
                return
            self._begin()
        if scanner.skip:
            skipped = min(scanner.skip, feed.have - scanner.pos)
            scanner.skip, scanner.pos = scanner.skip - skipped, scanner.pos + skipped
        if self.kernel is not None and self.state is not None and self._out is not None:
            addr = ctypes.addressof(ctypes.c_char.from_buffer(feed.buf))
            _kernel_pass(self.kernel, self.state, scanner, view, addr, self._out, self.sink)
        for frame in scanner.scan(view, final=final):
            self.sink.add(frame)
        if not final and not scanner.dead:
            feed.drop(scanner.pos)
            scanner.pos, scanner.base = 0, feed.base

    def _begin(self) -> None:
        self.started = True
        scanner = self.scanner
        self.kernel = None if self.pure else _use_kernel(scanner)
        if self.kernel is not None:
            state = self.state = KernelState()
            state.limit, state.linktype = self.limit, scanner.iface.linktype
            state.big_endian = scanner.endian == ">"
            self._out = (ctypes.c_uint64 * HANDOVER)()

    def finish(self) -> None:
        """The end of the capture (a stream that never sent its header: nothing to say;
        ``scan_capture`` refuses it before)."""
        if self.started:
            self.step(final=True)
        self.ended = True
        state = self.state
        if state is not None:
            self.stats.frames += state.frames
            for lt, n in state.linktype_counts().items():
                self.stats.linktypes[lt] = self.stats.linktypes.get(lt, 0) + n
            self.sink.add_kernel(state)
            self.state = None


def scan_capture(
    fh: Readable, sink: FrameSink, stats: CaptureStats, limit: int, pure: bool = False
) -> None:
    """Scan the whole stream into ``sink``; ``limit`` is the largest frame the MTU
    allows. Raises PcapFormatError for an unusable header, naming what was wrong."""
    session = ScanSession(sink, stats, limit, pure)
    feed = session.feed
    while not session.ended and not session.dead:
        feed.fill(fh)
        session.step(final=feed.eof)
    session.finish()


def _kernel_pass(
    kernel: Kernel,
    state: KernelState,
    scanner: _Scanner,
    view: memoryview,
    addr: int,
    out: ctypes.Array[ctypes.c_uint64],
    sink: FrameSink,
) -> None:
    """Let the kernel walk every complete record or block and decode what it hands
    over. In pcapng it stops at section headers and interface descriptions, which
    Python parses before the walk goes on. A corrupt or incomplete record or block is
    left to the Python scan that follows."""
    fmt, end = scanner.stats.format, len(view)
    rec = struct.Struct(scanner.endian + "IIII").unpack_from
    if fmt == "pcapng":
        _sync(state, scanner)
    while True:
        reached, n = kernel.scan(fmt, state, addr, scanner.pos, end, out)
        for i in range(n):
            entry = out[i]
            at = entry >> 1
            if entry & 1:  # counted by the kernel: only offered as an example
                frame = _example(scanner, view, at)
                if frame is not None:
                    sink.add_example(frame)
                continue
            scanner.pos = at
            if fmt == "pcap":
                frames = scanner._pcap(view, False, at + 16 + rec(view, at)[2])
            else:
                frames = scanner._pcapng(view, False, blocks=1)
            for frame in frames:
                sink.add(frame)
        scanner.pos = reached
        if n == len(out):
            continue
        if fmt == "pcap" or reached + 12 > end or bytes(view[reached : reached + 4]) not in _SETUP:
            return
        for frame in scanner._pcapng(view, False, blocks=1):  # a section or an interface
            sink.add(frame)
        if scanner.pos == reached or scanner.dead or scanner.skip:
            return
        _sync(state, scanner)


_SETUP = (b"\x0a\x0d\x0d\x0a", b"\x01\x00\x00\x00", b"\x00\x00\x00\x01")  # SHB, IDB


def _sync(state: KernelState, scanner: _Scanner) -> None:
    """The pcapng byte order and interfaces, as the kernel needs them."""
    state.big_endian = scanner.endian == ">"
    ifaces = scanner.ifaces[:MAX_IFACES]
    state.n_ifaces = len(ifaces)
    for i, iface in enumerate(ifaces):
        state.iface_linktype[i] = iface.linktype
        state.iface_units[i] = float(iface.units)
        state.iface_offset[i] = float(iface.offset)


def _example(scanner: _Scanner, view: memoryview, at: int) -> Frame | None:
    """The frame of a record or enhanced packet block the kernel tallied."""
    e = scanner.endian
    if scanner.stats.format == "pcap":
        sec, frac, incl, orig = struct.unpack_from(e + "IIII", view, at)
        iface, idx, data_at = scanner.iface, 0, at + 16
        ts = sec + frac / iface.units
    else:
        idx, hi, lo, incl, orig = struct.unpack_from(e + "5I", view, at + 8)
        iface, data_at = scanner.ifaces[idx], at + 28
        ts = ((hi << 32) | lo) / iface.units + iface.offset
    return decode_frame(bytes(view[data_at : data_at + incl]), ts, orig, iface.linktype, idx)


_DROPPED = re.compile(r"(?:^|,)\s*(\d+) packets? dropped by kernel\s*$")


def parse_tcpdump_drop_stats(stderr_lines: Iterable[str]) -> int | None:
    """Packets the kernel dropped, from tcpdump's counts on stderr: its exit summary
    (``1234 packets dropped by kernel`` on a line of its own) or the one line it prints
    on SIGUSR1 (``tcpdump: 5 packets captured, 9 packets received by filter, 4 packets
    dropped by kernel``). None when tcpdump printed neither (killed before its summary,
    or not a live capture). The last count wins.

    >>> parse_tcpdump_drop_stats(["10 packets captured", "12 packets received by filter",
    ...                           "2 packets dropped by kernel"])
    2
    >>> parse_tcpdump_drop_stats(["tcpdump: 5 packets captured, 9 packets received by "
    ...                           "filter, 4 packets dropped by kernel"])
    4
    >>> parse_tcpdump_drop_stats(["tcpdump: listening on eth0"]) is None
    True
    """
    dropped = None
    for line in stderr_lines:
        match = _DROPPED.search(line)
        if match:
            dropped = int(match.group(1))
    return dropped
