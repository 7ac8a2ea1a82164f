"""tcpdump on several hosts at once, until a condition holds or a deadline passes.

The engine half of "four terminals with tcpdump": arm ``tcpdump -U -w -`` on every
capture point through the runner, wait until each says ``listening on``, then keep
reading until ``until()`` says the picture is conclusive (checked a few times a
second) or ``max_seconds`` pass. Leaving cancels the streams, which kills the remote
tcpdumps. Not a check type itself: checks (``dhcp_capture``) build on it.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from engine.checks.base import CheckContext
from engine.errors import CloudtalesError
from engine.parsers.pcap import Frame, PcapFormatError, PcapStream
from engine.remote.inventory import Host


def tcpdump_command(
    iface: str, snaplen: int, max_frames: int, seconds: float, bpf_filter: str
) -> str:
    """``tcpdump -U -w -`` on ``iface``; ``timeout`` is a backstop: even if the channel is
    lost, tcpdump ends on its own."""
    cmd = (
        f"exec timeout {int(seconds) + 5} tcpdump -i {shlex.quote(iface)} -U -w - -n "
        f"-s {snaplen} -c {max_frames}"
    )
    return cmd + (f" {shlex.quote(bpf_filter)}" if bpf_filter else "")


@dataclass
class CapturePoint:
    host: Host
    iface: str
    stream: PcapStream = field(default_factory=PcapStream)
    frames: list[Frame] = field(default_factory=list)
    armed: asyncio.Event = field(default_factory=asyncio.Event)
    errors: list[str] = field(default_factory=list)
    last_data: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.host.name}:{self.iface}"


@dataclass(frozen=True)
class CaptureSpec:
    bpf_filter: str = ""
    snaplen: int = 1600
    max_frames: int = 20000
    arm_timeout: float = 10.0
    poll: float = 0.25  # s between ``until()`` checks
    drain: float = 0.5  # s to wait for frames in flight once ``until()`` holds


async def _stream(
    ctx: CheckContext,
    point: CapturePoint,
    spec: CaptureSpec,
    seconds: float,
    on_frame: Callable[[CapturePoint, Frame], None],
) -> None:
    loop = asyncio.get_running_loop()

    def on_stderr(line: str) -> None:
        if "listening on" in line:
            point.armed.set()
        elif line.strip() and "packets" not in line:
            point.errors.append(line.strip())

    cmd = tcpdump_command(point.iface, spec.snaplen, spec.max_frames, seconds, spec.bpf_filter)
    async for chunk in ctx.runner.stream_bytes(
        point.host, cmd, timeout=seconds + 10, on_stderr=on_stderr
    ):
        point.last_data = loop.time()
        try:
            frames = point.stream.feed(chunk)
        except PcapFormatError as exc:
            raise CloudtalesError(f"{point.label}: tcpdump output unreadable: {exc}") from None
        for frame in frames:
            point.frames.append(frame)
            on_frame(point, frame)


async def capture_until(
    ctx: CheckContext,
    points: list[CapturePoint],
    spec: CaptureSpec,
    max_seconds: float,
    until: Callable[[], bool],
    on_frame: Callable[[CapturePoint, Frame], None] = lambda p, f: None,
) -> float:
    """Capture on every point; returns the seconds captured after all were armed.

    Stops when ``until()`` holds, ``max_seconds`` pass, or every stream has ended."""
    loop = asyncio.get_running_loop()
    tasks = [
        asyncio.create_task(_stream(ctx, p, spec, max_seconds + spec.arm_timeout, on_frame))
        for p in points
    ]
    try:
        armed = asyncio.create_task(all_armed(points))
        await asyncio.wait(
            [armed, *tasks], timeout=spec.arm_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        armed.cancel()
        _raise_failed(tasks)
        not_armed = [p for p in points if not p.armed.is_set()]
        if not_armed:  # a capture that ended meanwhile is the cause: name it, not the others
            raise_lost_points(ctx, points, tasks, spec.max_frames)
            why = "; ".join(
                f"{p.label}: {' '.join(p.errors) or 'no listening on'}" for p in not_armed
            )
            raise CloudtalesError(f"tcpdump did not start: {why}")
        start = loop.time()
        deadline = start + max_seconds
        while loop.time() < deadline and not until():
            _raise_failed(tasks)
            if all(t.done() for t in tasks):  # every tcpdump ended (-c reached, a replay)
                break
            await asyncio.sleep(spec.poll)
        await drain(points, spec.drain)
        seconds = loop.time() - start
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    raise_lost_points(ctx, points, tasks, spec.max_frames)
    return seconds


class ObservedPoint(Protocol):
    host: Host
    iface: str
    frames: list[Frame]

    @property
    def label(self) -> str: ...


def raise_lost_points(
    ctx: CheckContext,
    points: Sequence[ObservedPoint],
    tasks: list[asyncio.Task[None]],
    max_frames: int,
) -> None:
    """After the captures were stopped: a point whose stream failed, or ended on its own
    before it was stopped (the connection or tcpdump died), could not observe. That is an
    error for the check, never "no frames" at that point (and never "lost after" it)."""
    live = getattr(ctx.runner, "live", True)  # a recording ends where it was cut
    lost: list[tuple[ObservedPoint, str]] = []
    for point, task in zip(points, tasks, strict=True):
        if not task.done() or task.cancelled():
            continue  # still capturing when we stopped it: a complete observation
        exc = task.exception()
        if exc is not None:
            lost.append((point, str(exc)))
        elif live and len(point.frames) < max_frames:
            lost.append(
                (point, "the capture ended before it was stopped (tcpdump or the connection died)")
            )
    if lost:
        why = "; ".join(f"{p.label}: {reason}" for p, reason in lost)
        first = lost[0][0]
        raise CloudtalesError(
            f"capture lost at {', '.join(p.label for p, _ in lost)}: {why}",
            host=",".join(dict.fromkeys(p.host.name for p, _ in lost)),
            command=f"tcpdump -i {first.iface} -n -e -c 100",
        )


def _raise_failed(tasks: list[asyncio.Task[None]]) -> None:
    """A capture that ended with an error (host unreachable, bad interface): surface it."""
    for t in tasks:
        if t.done() and not t.cancelled() and (exc := t.exception()) is not None:
            raise exc


async def all_armed(points: list[CapturePoint]) -> None:
    for p in points:
        await p.armed.wait()


async def drain(points: list[CapturePoint], seconds: float) -> None:
    """Let in-flight frames arrive: until no point got data for 0.3 s, at most ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if all(loop.time() - p.last_data > 0.3 for p in points):
            return
        await asyncio.sleep(0.1)
