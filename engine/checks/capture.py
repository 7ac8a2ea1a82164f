"""Check ``vlan_capture``: tcpdump on several hosts at once while probe traffic crosses.

The four-terminal session of the Double VLAN tale as one step: the capture API
(``engine.capture.points``) arms ``tcpdump -U -w -`` on every capture point; once each
listens, pings of several sizes go from the traffic host; then drain and stop. The
judgement (tag depth, wire size, which hop adds a tag) is the detector's
(``engine.detectors.vlan.judge_vlan_capture``).
"""

from __future__ import annotations

import shlex

from engine.analyzers.summary import anomaly, describe
from engine.capture.points import Capture, CapturePoint, CaptureSpec, with_drops
from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.vlan import CAPTURE_OUTCOMES, judge_vlan_capture
from engine.errors import CloudtalesError
from engine.parsers.ethtool import parse_ethtool_features, vlan_offload_warning
from engine.parsers.pcap import Frame
from engine.results import CheckResult


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


async def run(ctx: CheckContext, params: VlanCaptureParams) -> CheckResult:
    points = [CapturePoint(h, str(h.vars.get(params.iface_var, "any"))) for h in ctx.hosts]
    sender = ctx.inventory.resolve(params.traffic_from)[0]
    spec = CaptureSpec(
        bpf_filter=params.bpf_filter,
        snaplen=params.snaplen,
        max_frames=params.max_frames,
        arm_timeout=params.arm_timeout,
        backstop=int(ctx.timeout) + 5,
        stream_timeout=ctx.timeout,
    )

    def on_frame(point: CapturePoint, frame: Frame) -> None:
        ctx.emit(LiveLine(point.label, describe(frame), anomaly(frame, params.mtu)))

    async with Capture(ctx, points, spec, on_frame) as capture:
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
        await capture.drain(params.drain_seconds)
    warnings = await gather_all(_offload_warning(ctx, p) for p in points)
    frames = {p.label: p.frames for p in points}
    out = judge_vlan_capture(frames, params.mtu, res.stdout, [w for w in warnings if w])
    return with_drops(out, points)


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
            "kernel_drops",
            "kernel_drops_total",
        ),
    )
)
