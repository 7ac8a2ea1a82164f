"""A live capture stream: bytes in, frames out, and what tcpdump said on stderr.

``FrameStream`` feeds each chunk of a ``tcpdump -U -w -`` stream to the scanner session
that also reads capture files (``engine.parsers.pcap_scan.ScanSession``), so a live
capture and ``cloudtales analyze`` decode and count alike. Every frame is decoded in
Python here: its consumers (live lines, correlation across points) need each one.

``TcpdumpLog`` sorts tcpdump's stderr: ``listening on`` (armed), its counts (the line it
prints on SIGUSR1, its exit summary) and anything else (errors).

>>> log = TcpdumpLog()
>>> for line in ["tcpdump: listening on eth0, link-type EN10MB", "5 packets captured",
...              "9 packets received by filter", "4 packets dropped by kernel"]:
...     log.line(line)
>>> log.armed, log.kernel_drops, log.errors
(True, 4, [])
>>> log.exit_summary = []
>>> log.line("tcpdump: 7 packets captured, 9 packets received by filter, "
...          "2 packets dropped by kernel")
>>> log.kernel_drops
2
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from engine.analyzers.vlan import max_frame_len
from engine.parsers.pcap import CaptureStats, Frame
from engine.parsers.pcap_kernel import KernelState
from engine.parsers.pcap_scan import ScanSession, parse_tcpdump_drop_stats

LIVE_BUFFER = 65536  # bytes a live stream's buffer starts with (it grows for big records)
_SUMMARY = re.compile(r"^\d+ packets? (captured|received by filter|dropped by \w+)")
_COUNTS = re.compile(r"^tcpdump: \d+ packets? captured, ")


class _Frames:
    """A ``FrameSink`` that keeps each decoded frame until it is taken."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def add(self, frame: Frame) -> None:
        self.frames.append(frame)

    def add_example(self, frame: Frame) -> None:  # pure sessions hand over no examples
        return None

    def add_kernel(self, state: KernelState) -> None:
        return None


class FrameStream:
    """Incremental decoding of one live capture stream (pcap or pcapng)."""

    def __init__(self, mtu: int = 1500) -> None:
        self.stats = CaptureStats()
        self._sink = _Frames()
        self._session = ScanSession(
            self._sink, self.stats, max_frame_len(mtu), pure=True, size=LIVE_BUFFER
        )

    def feed(self, chunk: bytes) -> list[Frame]:
        """Frames completed by this chunk. Raises PcapFormatError for a bad header."""
        self._session.push(chunk)
        frames, self._sink.frames = self._sink.frames, []
        return frames

    def close(self) -> CaptureStats:
        """End of stream: a partial record left over counts as truncated."""
        self._session.finish()
        self._sink.frames = []
        return self.stats


@dataclass
class TcpdumpLog:
    """tcpdump's stderr, line by line (``on_stderr`` of a byte stream). Its counts come
    as one line each time it gets SIGUSR1 (the capture source asks every few seconds)
    and as its exit summary, a line per count, when it ends on its own."""

    armed: bool = False
    errors: list[str] = field(default_factory=list)
    exit_summary: list[str] = field(default_factory=list)  # "N packets captured" ...
    counts: str = ""  # the last SIGUSR1 line

    def line(self, text: str) -> None:
        said = text.strip()
        if "listening on" in said:
            self.armed = True
        elif _COUNTS.match(said):
            self.counts = said
        elif _SUMMARY.match(said):
            self.exit_summary.append(said)
        elif said:
            self.errors.append(said)

    @property
    def summary(self) -> list[str]:
        """tcpdump's latest counts: its exit summary, else its last SIGUSR1 line."""
        return self.exit_summary or ([self.counts] if self.counts else [])

    @property
    def kernel_drops(self) -> int | None:
        """tcpdump's own "N packets dropped by kernel"; None when it did not say (it was
        stopped before it printed any count)."""
        return parse_tcpdump_drop_stats(self.summary)
