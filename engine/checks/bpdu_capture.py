"""Check ``bpdu_capture``: who sends spanning-tree BPDUs towards the switch?

A switch port with BPDU guard shuts down on the first BPDU it hears, so the node
must never send one. This captures only BPDUs (``ether dst 01:80:c2:00:00:00`` or
the PVST+ ``01:00:0c:cc:cc:cd``) with ``tcpdump -U -w -`` streamed back, decoded by
``engine.analyzers.stp``:

- on the uplink (host var ``uplink``), outbound only (``-Q out``), while it has carrier;
- on every guest tap device (``tap*``), inbound from the guest (``-Q in``), once the
  uplink is down: the switch already cut it, but the guest keeps talking.

A bridge says hello every 2 s, so ``seconds`` defaults to 5; the capture stops early
once ``stop_after`` BPDUs arrived.
"""

from __future__ import annotations

import asyncio
import fnmatch
import shlex
from dataclasses import dataclass, field

from engine.analyzers.stp import Bpdu, iter_bpdus
from engine.analyzers.summary import describe
from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.concurrent_capture import raise_lost_points
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.base import merge_outcomes
from engine.detectors.stp import CAPTURE_OUTCOMES, detect_bpdu_capture
from engine.errors import CloudtalesError
from engine.parsers.iplink import LinkInfo, parse_ip_link
from engine.parsers.pcap import PVST_MAC, STP_MAC, Frame, PcapStream
from engine.remote.inventory import Host
from engine.results import CheckResult

BPDU_FILTER = f"ether dst {STP_MAC} or ether dst {PVST_MAC}"


class BpduCaptureParams(CheckParams):
    uplink_var: str = "uplink"
    tap_patterns: list[str] = ["tap*", "vnet*"]
    seconds: float = 5.0
    stop_after: int = 2
    max_points: int = 32
    snaplen: int = 256
    max_frames: int = 500
    arm_timeout: float = 10.0


@dataclass
class _Point:
    host: Host
    iface: str
    direction: str  # in | out
    stream: PcapStream = field(default_factory=PcapStream)
    frames: list[Frame] = field(default_factory=list)
    armed: asyncio.Event = field(default_factory=asyncio.Event)
    errors: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.host.name}:{self.iface} ({self.direction})"


def tcpdump_command(iface: str, direction: str, params: BpduCaptureParams) -> str:
    backstop = int(params.seconds + params.arm_timeout) + 5
    return (
        f"exec timeout {backstop} tcpdump -i {shlex.quote(iface)} -Q {direction} -U -w - -n "
        f"-s {params.snaplen} -c {params.max_frames} {shlex.quote(BPDU_FILTER)}"
    )


def choose_points(
    links: list[LinkInfo], uplink: str, patterns: list[str], max_points: int
) -> tuple[str, list[tuple[str, str]]]:
    """("uplink", [(uplink, "out")]) while the uplink has carrier, else the taps."""
    by_name = {link.ifname: link for link in links}
    up = by_name.get(uplink)
    if up is not None and up.carrier:
        return "uplink", [(uplink, "out")]
    taps = [
        link.ifname
        for link in links
        if any(fnmatch.fnmatchcase(link.ifname, p) for p in patterns) and "UP" in link.flags
    ]
    return "taps", [(t, "in") for t in sorted(taps)[:max_points]]


async def _capture(ctx: CheckContext, point: _Point, params: BpduCaptureParams) -> None:
    def on_stderr(line: str) -> None:
        if "listening on" in line:
            point.armed.set()
        elif line.strip() and "packets" not in line:
            point.errors.append(line.strip())

    cmd = tcpdump_command(point.iface, point.direction, params)
    async for chunk in ctx.runner.stream_bytes(
        point.host, cmd, timeout=ctx.timeout, on_stderr=on_stderr
    ):
        for frame in point.stream.feed(chunk):
            point.frames.append(frame)
            why = "BPDU from a guest" if point.direction == "in" else "BPDU towards the switch"
            ctx.emit(LiveLine(point.label, describe(frame, macs=True), why))


async def _collect(ctx: CheckContext, points: list[_Point], params: BpduCaptureParams) -> None:
    tasks = [asyncio.create_task(_capture(ctx, p, params)) for p in points]
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + params.arm_timeout
        while not all(p.armed.is_set() for p in points):
            for t, p in zip(tasks, points, strict=True):
                if t.done() and not p.armed.is_set():
                    exc = t.exception() if not t.cancelled() else None
                    if exc is not None:
                        raise exc
                    raise CloudtalesError(
                        f"tcpdump on {p.label} ended: {' '.join(p.errors) or 'no output'}"
                    )
            if loop.time() > deadline:
                late = [f"{p.label}: {' '.join(p.errors) or 'no listening on'}" for p in points]
                raise CloudtalesError(f"tcpdump did not start: {'; '.join(late)}")
            await asyncio.sleep(0.05)
        ctx.emit(
            LiveLine(
                points[0].host.name,
                f"capturing BPDUs on {', '.join(p.label for p in points)} "
                f"for up to {params.seconds:g} s",
            )
        )
        stop = loop.time() + params.seconds
        while loop.time() < stop:
            seen = sum(len(p.frames) for p in points)
            if params.stop_after and seen >= params.stop_after:
                break
            if all(t.done() for t in tasks):
                break
            await asyncio.sleep(0.1)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    raise_lost_points(ctx, points, tasks, params.max_frames)


async def _one(ctx: CheckContext, host: Host, params: BpduCaptureParams) -> CheckResult:
    res = await ctx.sources.read(host, "ip_link", timeout=ctx.timeout)
    if not res.ok:
        raise CloudtalesError(
            f"host {host.name}: `{res.command}` failed: {res.why}",
            host=host.name,
            command=res.command,
        )
    links = parse_ip_link(res.stdout, f"{host.name}: {res.command}")
    uplink = str(host.vars.get(params.uplink_var) or "bond0")
    mode, chosen = choose_points(links, uplink, params.tap_patterns, params.max_points)
    host_macs = {link.address: link.ifname for link in links if link.address}
    if not chosen:
        out = detect_bpdu_capture(host.name, {}, [], host_macs)
        return CheckResult(
            out.outcome,
            f"{host.name}: {uplink} has no carrier and no tap device is up: nothing to capture",
            {**out.facts, "capture_mode": "none"},
        )
    points = [_Point(host, iface, direction) for iface, direction in chosen]
    await _collect(ctx, points, params)
    bpdus: dict[str, list[Bpdu]] = {p.iface: list(iter_bpdus(p.frames)) for p in points}
    guests = [p.iface for p in points if p.direction == "in"]
    out = detect_bpdu_capture(host.name, bpdus, guests, host_macs)
    why = f"{uplink} has no carrier: " if mode == "taps" else ""
    return CheckResult(
        out.outcome,
        f"{why}{out.summary}",
        {**out.facts, "capture_mode": mode},
        out.evidence,
    )


async def run(ctx: CheckContext, params: BpduCaptureParams) -> CheckResult:
    if not ctx.hosts:
        raise CloudtalesError("bpdu_capture: no hosts to capture on")
    outcomes = await gather_all(_one(ctx, h, params) for h in ctx.hosts)
    merged = merge_outcomes(outcomes, CAPTURE_OUTCOMES)
    return merged


register(
    CheckType(
        name="bpdu_capture",
        title="Capture BPDUs leaving the node (uplink, or the tap devices)",
        outcomes=CAPTURE_OUTCOMES,
        params=BpduCaptureParams,
        run=run,
        facts=(
            "bpdu_count",
            "bpdu_kinds",
            "source_macs",
            "host_bridge_macs",
            "by_iface",
            "capture_points",
            "capture_mode",
        ),
    )
)
