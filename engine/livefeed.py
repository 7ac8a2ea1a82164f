"""Live lines for an ad-hoc command on a host (UI-free; the TUI's panes consume it).

``tcpdump ...`` is rewritten to ``tcpdump -U -w - ...`` and read through
``Runner.stream_bytes``; its frames are decoded with the pcap scanner and described
one per line, with an anomaly reason (double tag, oversize) where there is one.
Anything else is streamed line by line with ``Runner.stream_lines``.

Closing the iterator (or cancelling the task that consumes it) kills the remote
process, as the runner protocol promises.

>>> tcpdump_stream_command("tcpdump -i bond0 -n icmp")
'exec timeout 3600 tcpdump -U -w - -s 128 -i bond0 -n icmp'
>>> tcpdump_stream_command("sudo tcpdump -w /tmp/x.pcap -i eth0 -s 0")
'exec timeout 3600 sudo tcpdump -U -w - -i eth0 -s 0'
>>> is_tcpdump("ping -c 3 10.0.0.1"), is_tcpdump("sudo tcpdump -i any")
(False, True)
"""

from __future__ import annotations

import shlex
from collections.abc import AsyncIterator
from contextlib import aclosing

from engine.analyzers.summary import anomaly, describe
from engine.capture.stream import FrameStream, TcpdumpLog
from engine.checks.base import LiveLine
from engine.parsers.pcap import PcapFormatError
from engine.remote.inventory import Host
from engine.remote.runner import Runner

DEFAULT_LIMIT = 3600.0  # seconds an ad-hoc pane command may run (a backstop, like the checks')
DEFAULT_SNAPLEN = 128  # headers are enough to describe a frame; sizes come from the wire length


def _words(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def is_tcpdump(command: str) -> bool:
    words = _words(command)
    if words[:1] == ["sudo"]:
        words = words[1:]
    return bool(words) and words[0].rsplit("/", 1)[-1] == "tcpdump"


def tcpdump_stream_command(command: str, limit: float = DEFAULT_LIMIT) -> str:
    """The operator's tcpdump with ``-U -w -`` (pcap on stdout, flushed per packet).

    An existing ``-w FILE`` or ``-U`` is dropped; ``-s 128`` is added unless a snaplen is
    given; ``timeout`` ends tcpdump on the host even if the channel is lost."""
    words = _words(command)
    prefix: list[str] = []
    if words[:1] == ["sudo"]:
        prefix, words = ["sudo"], words[1:]
    rest: list[str] = []
    skip = False
    for word in words[1:]:
        if skip:
            skip = False
        elif word == "-w":
            skip = True
        elif (word.startswith("-w") and len(word) > 2) or word in ("-U", "--packet-buffered"):
            continue
        else:
            rest.append(word)
    has_snaplen = any(w == "-s" or w.startswith("--snapshot-length") for w in rest)
    args = ["-U", "-w", "-", *([] if has_snaplen else ["-s", str(DEFAULT_SNAPLEN)]), *rest]
    return f"exec timeout {int(limit)} " + shlex.join([*prefix, words[0], *args])


async def live_lines(
    runner: Runner, host: Host, command: str, *, mtu: int = 1500, limit: float = DEFAULT_LIMIT
) -> AsyncIterator[LiveLine]:
    """Yield LiveLines for ``command`` on ``host`` until it ends or the consumer stops."""
    source = f"{host.name}: {command}"
    if not is_tcpdump(command):
        async with aclosing(runner.stream_lines(host, command, timeout=limit)) as lines:
            async for line in lines:
                yield LiveLine(source, line)
        return
    stderr: list[str] = []
    log = TcpdumpLog()  # the same reading of tcpdump's stderr as the capture checks'

    def heard(line: str) -> None:
        log.line(line)
        stderr.append(line.rstrip())

    stream = FrameStream(mtu)  # the capture checks' and analyze's scanner
    chunks = runner.stream_bytes(
        host, tcpdump_stream_command(command, limit), timeout=limit, on_stderr=heard
    )
    async with aclosing(chunks) as data:
        async for chunk in data:
            while stderr:
                yield LiveLine(source, f"tcpdump: {stderr.pop(0)}")
            try:
                frames = stream.feed(chunk)
            except PcapFormatError as exc:
                yield LiveLine(source, f"not a capture stream: {exc}", "tcpdump output unreadable")
                return
            for frame in frames:
                yield LiveLine(source, describe(frame), anomaly(frame, mtu))
    for line in stderr:
        yield LiveLine(source, f"tcpdump: {line}")
    stats = stream.close()
    if stats.malformed or stats.truncated:
        yield LiveLine(source, f"{stats.malformed} malformed, {stats.truncated} truncated records")
    if log.kernel_drops:
        yield LiveLine(
            source,
            f"tcpdump: {log.kernel_drops} packets dropped by kernel",
            "the capture missed frames: absence in this pane proves nothing",
        )
