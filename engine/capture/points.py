"""tcpdump on several capture points at once: the one capture loop of every capture check.

The engine half of "four terminals with tcpdump". ``Capture`` starts the named ``capture``
source (``tcpdump -U -w -``) on every point through the check's source provider, waits
until each says ``listening on`` (armed), and feeds each byte stream to the scanner
(``FrameStream``). The check then does what it needs while frames arrive (send probe
traffic, wait for a condition, ``drain`` what is in flight). Leaving the ``async with``
cancels the streams, which kills the remote tcpdumps; a point whose stream failed or
ended on its own before it was stopped is an error naming it (``raise_lost_points``),
never "no frames there". tcpdump's own "packets dropped by kernel" is kept per point
(``drops``): the capture source has tcpdump print its counts every second (SIGUSR1), so
the last count is known even when the capture is stopped by closing its channel.

    async with Capture(ctx, points, spec, on_frame) as cap:
        ...  # traffic
        await cap.wait(until, seconds)
        await cap.drain(0.5)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Protocol

from engine.capture.stream import FrameStream, TcpdumpLog
from engine.checks.base import CheckContext
from engine.errors import CloudtalesError
from engine.parsers.pcap import Frame, PcapFormatError
from engine.remote.inventory import Host
from engine.results import CheckResult, Evidence


@dataclass(frozen=True)
class CaptureSpec:
    bpf_filter: str = ""
    snaplen: int = 1600
    max_frames: int = 20000  # tcpdump -c: a point that reached it ended on purpose
    arm_timeout: float = 10.0  # s for every point to say "listening on"
    backstop: int = 0  # s after which tcpdump ends on the host whatever happens (0: none)
    stream_timeout: float = 60.0  # s the runner lets one stream last
    poll: float = 0.25  # s between ``until()`` checks
    stats_every: int = 1  # s between tcpdump's counts (SIGUSR1; 0: only its exit summary)


@dataclass
class CapturePoint:
    host: Host
    iface: str
    direction: str = ""  # tcpdump -Q: "in", "out" ("": both)
    frames: list[Frame] = field(default_factory=list)
    log: TcpdumpLog = field(default_factory=TcpdumpLog)
    stream: FrameStream = field(default_factory=FrameStream)
    armed: asyncio.Event = field(default_factory=asyncio.Event)
    last_data: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.host.name}:{self.iface}" + (f" ({self.direction})" if self.direction else "")

    @property
    def errors(self) -> list[str]:
        return self.log.errors

    def on_stderr(self, line: str) -> None:
        self.log.line(line)
        if self.log.armed:
            self.armed.set()


FrameHandler = Callable[[CapturePoint, Frame], None]


class Capture:
    """The capture on ``points`` as an async context manager (see the module doc)."""

    def __init__(
        self,
        ctx: CheckContext,
        points: Sequence[CapturePoint],
        spec: CaptureSpec,
        on_frame: FrameHandler | None = None,
    ) -> None:
        self.ctx, self.points, self.spec = ctx, list(points), spec
        self.on_frame = on_frame
        self.tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Capture:
        self.tasks = [asyncio.create_task(self._stream(p)) for p in self.points]
        try:
            await self._arm()
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop()
        if exc is None:
            raise_lost_points(self.ctx, self.points, self.tasks, self.spec.max_frames)

    async def _stream(self, point: CapturePoint) -> None:
        loop = asyncio.get_running_loop()
        spec = self.spec
        chunks = self.ctx.sources.stream_bytes(
            point.host,
            "capture",
            spec.stream_timeout,
            point.on_stderr,
            iface=point.iface,
            snaplen=spec.snaplen,
            count=spec.max_frames,
            filter=spec.bpf_filter,
            direction=point.direction,
            backstop=spec.backstop,
            stats_every=spec.stats_every,
        )
        try:
            async for chunk in chunks:
                point.last_data = loop.time()
                try:
                    frames = point.stream.feed(chunk)
                except PcapFormatError as exc:
                    raise CloudtalesError(
                        f"{point.label}: tcpdump output unreadable: {exc}"
                    ) from None
                point.frames.extend(frames)
                if self.on_frame is not None:
                    for frame in frames:
                        self.on_frame(point, frame)
        finally:
            point.stream.close()

    async def _arm(self) -> None:
        points, tasks = self.points, self.tasks
        armed = asyncio.create_task(_all_armed(points))
        await asyncio.wait(
            [armed, *tasks], timeout=self.spec.arm_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        armed.cancel()
        _raise_failed(tasks)
        not_armed = [p for p in points if not p.armed.is_set()]
        if not_armed:  # a capture that ended meanwhile is the cause: name it, not the others
            raise_lost_points(self.ctx, points, tasks, self.spec.max_frames)
            why = "; ".join(
                f"{p.label}: {' '.join(p.errors) or 'no listening on'}" for p in not_armed
            )
            raise CloudtalesError(f"tcpdump did not start: {why}")

    async def wait(self, until: Callable[[], bool], seconds: float) -> float:
        """Until ``until()`` holds, ``seconds`` pass, every stream ended (``-c`` reached, a
        replay) or one failed (named when the capture stops). Returns the seconds waited."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + seconds
        while loop.time() < deadline and not until():
            if all(t.done() for t in self.tasks) or any(_failed(t) for t in self.tasks):
                break
            await asyncio.sleep(self.spec.poll)
        return loop.time() - start

    async def drain(self, seconds: float) -> None:
        """Let in-flight frames arrive: until no point got data for 0.3 s, at most
        ``seconds``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            if all(loop.time() - p.last_data > 0.3 for p in self.points):
                return
            await asyncio.sleep(0.1)

    async def _stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


class ObservedPoint(Protocol):
    host: Host
    iface: str
    frames: list[Frame]

    @property
    def label(self) -> str: ...

    @property
    def errors(self) -> list[str]: ...


def raise_lost_points(
    ctx: CheckContext,
    points: Sequence[ObservedPoint],
    tasks: Sequence[asyncio.Task[None]],
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
            said = f": {' '.join(point.errors)}" if point.errors else ""
            lost.append(
                (
                    point,
                    "the capture ended before it was stopped (tcpdump or the connection died)"
                    + said,
                )
            )
    if lost:
        why = "; ".join(f"{p.label}: {reason}" for p, reason in lost)
        first = lost[0][0]
        raise CloudtalesError(
            f"capture lost at {', '.join(p.label for p, _ in lost)}: {why}",
            host=",".join(dict.fromkeys(p.host.name for p, _ in lost)),
            command=f"tcpdump -i {first.iface} -n -e -c 100",
        )


def with_drops(result: CheckResult, points: Sequence[CapturePoint]) -> CheckResult:
    """A check's result with tcpdump's own counts: fact ``kernel_drops`` (label -> packets
    dropped by kernel, for each point whose tcpdump printed a count), a note in the
    summary and the summary lines as evidence when there are any.

    ``kernel_drops_total`` is set only when every point printed a count: a diagnosis that
    stands on a packet's absence at a point requires it to be 0 (a frame tcpdump dropped
    is not a frame the network lost)."""
    dropped = drops(points)
    facts = {**result.facts, "kernel_drops": dropped}
    if points and len(dropped) == len(points):  # every point counted: absence can be read
        facts["kernel_drops_total"] = sum(dropped.values())
    return replace(
        result,
        summary=result.summary + drops_note(dropped),
        facts=facts,
        evidence=[*result.evidence, *drops_evidence(points)],
    )


def drops(points: Sequence[CapturePoint]) -> dict[str, int]:
    """tcpdump's "packets dropped by kernel" per point that printed a count (its last
    SIGUSR1 line, or its exit summary when it ended on its own)."""
    return {p.label: n for p in points if (n := p.log.kernel_drops) is not None}


def drops_note(found: dict[str, int]) -> str:
    """For a check's summary: "" when no point reported a count.

    >>> drops_note({"a:eth0": 0, "b:eth0": 0})
    ' (tcpdump: 0 packets dropped by kernel at 2 points)'
    >>> drops_note({"a:eth0": 0, "b:eth0": 39})
    ' (tcpdump: packets dropped by kernel: 39 at b:eth0)'
    """
    lost = {label: n for label, n in found.items() if n}
    if not found:
        return ""
    if not lost:
        points = f"{len(found)} point{'s' if len(found) > 1 else ''}"
        return f" (tcpdump: 0 packets dropped by kernel at {points})"
    said = ", ".join(f"{n} at {label}" for label, n in lost.items())
    return f" (tcpdump: packets dropped by kernel: {said})"


def drops_evidence(points: Sequence[CapturePoint]) -> list[Evidence]:
    """tcpdump's own last count per point that printed one, next to the frames decoded
    here (its count may lag by the second between two counts, or by what libpcap still
    buffered)."""
    lines = [
        f"{p.label}: {len(p.frames)} frames decoded; tcpdump said: {'; '.join(p.log.summary)}"
        for p in points
        if p.log.summary
    ]
    return [Evidence("tcpdump's own counts", "\n".join(lines))] if lines else []


def _failed(task: asyncio.Task[None]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is not None


def _raise_failed(tasks: Sequence[asyncio.Task[None]]) -> None:
    """A capture that ended with an error (host unreachable, bad interface): surface it."""
    for t in tasks:
        if _failed(t) and (exc := t.exception()) is not None:
            raise exc


async def _all_armed(points: Sequence[CapturePoint]) -> None:
    for p in points:
        await p.armed.wait()
