"""Check ``vlan_capture``: tcpdump on several hosts at once while probe traffic crosses.

The four-terminal session of the Double VLAN tale as one step: arm ``tcpdump -U -w -``
on every capture point, wait until each says ``listening on``, send pings of several
sizes from the traffic host, drain, stop (cancelling the streams kills the remote
tcpdumps), then judge tag depth, wire size and which hop adds a tag.
"""

from __future__ import annotations

import asyncio
import shlex

from engine.analyzers.correlate import correlate
from engine.analyzers.summary import anomaly, describe
from engine.analyzers.vlan import analyze_vlan
from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.concurrent_capture import (
    CapturePoint,
    all_armed,
    drain,
    raise_lost_points,
    tcpdump_command,
)
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.errors import CloudtalesError
from engine.parsers.ethtool import parse_ethtool_features, vlan_offload_warning
from engine.results import CheckResult, Evidence

CAPTURE_OUTCOMES = ("stacked", "single", "untagged", "no_frames")


class VlanCaptureParams(CheckParams):
    traffic_from: str
    target: str
    sizes: list[int] = [56, 1400, 1468, 1472]
    count: int = 2
    mtu: int = 1500
    iface_var: str = "capture_iface"
    snaplen: int = 128
    max_frames: int = 20000
    bpf_filter: str = ""
    arm_timeout: float = 10.0
    drain_seconds: float = 1.0


def traffic_command(target: str, sizes: list[int], count: int) -> str:
    t = shlex.quote(target)
    return "; ".join(
        f"ping -n -M do -c {count} -i 0.2 -W 1 -s {s} {t} >/dev/null 2>&1; echo {s} $?"
        for s in sizes
    )


async def _capture(ctx: CheckContext, point: CapturePoint, params: VlanCaptureParams) -> None:
    loop = asyncio.get_running_loop()

    def on_stderr(line: str) -> None:
        if "listening on" in line:
            point.armed.set()
        elif line.strip() and "packets" not in line:
            point.errors.append(line.strip())

    cmd = tcpdump_command(
        point.iface, params.snaplen, params.max_frames, ctx.timeout, params.bpf_filter
    )
    async for chunk in ctx.runner.stream_bytes(
        point.host, cmd, timeout=ctx.timeout, on_stderr=on_stderr
    ):
        point.last_data = loop.time()
        for frame in point.stream.feed(chunk):
            point.frames.append(frame)
            ctx.emit(LiveLine(point.label, describe(frame), anomaly(frame, params.mtu)))


async def run(ctx: CheckContext, params: VlanCaptureParams) -> CheckResult:
    points = [CapturePoint(h, str(h.vars.get(params.iface_var, "any"))) for h in ctx.hosts]
    sender = ctx.inventory.resolve(params.traffic_from)[0]
    tasks = [asyncio.create_task(_capture(ctx, p, params)) for p in points]
    try:
        armed = asyncio.create_task(all_armed(points))
        await asyncio.wait(
            [armed, *tasks], timeout=params.arm_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        armed.cancel()
        for t in tasks:  # a capture that ended before arming: surface its error
            if t.done() and not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
        not_armed = [p for p in points if not p.armed.is_set()]
        if not_armed:  # a capture that ended meanwhile is the cause: name it, not the others
            raise_lost_points(ctx, points, tasks, params.max_frames)
            why = "; ".join(
                f"{p.label}: {' '.join(p.errors) or 'no listening on'}" for p in not_armed
            )
            raise CloudtalesError(f"tcpdump did not start: {why}")
        ctx.emit(
            LiveLine(
                f"{sender.name}:ping",
                f"pinging {params.target} with sizes "
                f"{', '.join(map(str, params.sizes))} (-M do, {params.count} each)",
            )
        )
        res = await ctx.runner.run(
            sender, traffic_command(params.target, params.sizes, params.count), timeout=ctx.timeout
        )
        for line in res.stdout.splitlines():
            size, _, rc = line.partition(" ")
            ctx.emit(
                LiveLine(
                    f"{sender.name}:ping",
                    f"ping -s {size}: {'replies' if rc == '0' else 'LOST'}",
                    None if rc == "0" else f"{size}-byte pings lost",
                )
            )
        await drain(points, params.drain_seconds)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    raise_lost_points(ctx, points, tasks, params.max_frames)
    warnings = await gather_all(_offload_warning(ctx, p) for p in points)
    return judge(points, params, res.stdout, [w for w in warnings if w])


async def _offload_warning(ctx: CheckContext, point: CapturePoint) -> str | None:
    """``ethtool -k``: VLAN offload can hide tags from tcpdump (read-only; best effort)."""
    try:
        res = await ctx.sources.read(point.host, "ethtool_features", timeout=10, iface=point.iface)
        warning = vlan_offload_warning(point.label, parse_ethtool_features(res.stdout))
    except CloudtalesError:  # no ethtool there, a virtual device without features
        return None
    if warning:
        ctx.emit(LiveLine(point.label, f"ethtool: {warning}", "VLAN offload on"))
    return warning


def judge(
    points: list[CapturePoint],
    params: VlanCaptureParams,
    ping_output: str = "",
    offload_warnings: list[str] | None = None,
) -> CheckResult:
    per_point = {p.label: analyze_vlan(p.frames, params.mtu) for p in points}
    all_frames = [f for p in points for f in p.frames]
    overall = analyze_vlan(all_frames, params.mtu)
    hops = correlate({p.label: p.frames for p in points}, [p.label for p in points])
    outcome = overall.verdict()
    stacks = {"/".join(map(str, k)): v for k, v in sorted(overall.stacks.items())}
    stacked_at = [label for label, f in per_point.items() if f.max_depth >= 2]
    lines = [f"{label}: {f.summary_line()}" for label, f in per_point.items()]
    evidence = [Evidence("frames by capture point", "\n".join(lines))]
    if hops.lines():
        evidence.append(Evidence("same packet at each hop", "\n".join(hops.lines())))
    if offload_warnings:
        evidence.append(Evidence("VLAN offload (ethtool -k)", "\n".join(offload_warnings)))
    if ping_output:
        lost = [ln.split()[0] for ln in ping_output.splitlines() if ln.split()[1:] != ["0"]]
        if lost:
            evidence.append(Evidence("pings lost", "sizes: " + ", ".join(lost)))
    summary = {
        "stacked": (
            f"frames carry {overall.max_depth} VLAN tags ({', '.join(stacks)})"
            f" at {', '.join(stacked_at)}"
        ),
        "single": "frames carry one VLAN tag: no stacking",
        "untagged": "frames are untagged at every capture point",
        "no_frames": "no frames captured",
    }[outcome]
    return CheckResult(
        outcome,
        summary,
        {
            "max_tag_depth": overall.max_depth,
            "stacks": stacks,
            "oversize_frames": overall.oversize,
            "stacked_at": stacked_at,
            "first_stacking_hop": hops.first_stacking_point,
            "frames": {label: len(p.frames) for label, p in zip(per_point, points, strict=True)},
            "vlan_offload_warnings": offload_warnings or [],
        },
        evidence,
        [hops.table()] if hops.packets else [],
    )


register(
    CheckType(
        name="vlan_capture",
        title="Capture on several hosts at once (tcpdump -U -w -)",
        outcomes=CAPTURE_OUTCOMES,
        params=VlanCaptureParams,
        run=run,
        facts=(
            "max_tag_depth",
            "stacks",
            "oversize_frames",
            "stacked_at",
            "first_stacking_hop",
            "frames",
            "vlan_offload_warnings",
        ),
    )
)
