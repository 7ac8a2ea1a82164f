"""Check ``vxlan_capture``: capture the underlay while the instance pings, read VXLAN.

tcpdump on the compute's underlay NIC (``udp port 4789``) while the instance sends one
``ping -M do`` per size (the ``ping_sizes`` source). Each echo request that crossed the
underlay is found inside its VXLAN frame: outer minus inner length is the overhead, and a
size that never appears there was lost before encapsulation.
"""

from __future__ import annotations

from engine.capture.points import Capture, CapturePoint, CaptureSpec, with_drops
from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.registry import register
from engine.detectors.overlay import (
    UNDERLAY_OUTCOMES,
    judge_underlay,
    parse_ping_sizes,
    vxlan_inner,
)
from engine.errors import CloudtalesError
from engine.parsers.frame import Frame
from engine.results import CheckResult


class VxlanCaptureParams(CheckParams):
    traffic_from: str  # host or role that pings (the instance)
    source_ip: str  # its address inside the overlay
    target: str
    underlay: str  # the interface to capture on (the overlay check's ``underlay``)
    sizes: list[int] = [56, 1400, 1422, 1472]
    drain_seconds: float = 1.0


async def run(ctx: CheckContext, params: VxlanCaptureParams) -> CheckResult:
    sender = ctx.inventory.resolve(params.traffic_from)[0]
    capture_hosts = [h for h in ctx.hosts if h.name != sender.name] or ctx.hosts
    points = [CapturePoint(h, params.underlay) for h in capture_hosts]
    spec = CaptureSpec(
        bpf_filter="udp port 4789",
        snaplen=256,
        max_frames=2000,
        backstop=int(ctx.timeout) + 5,
        stream_timeout=ctx.timeout,
    )

    def on_frame(point: CapturePoint, frame: Frame) -> None:
        e = vxlan_inner(frame)
        if e is None:
            return
        ctx.emit(
            LiveLine(
                point.label,
                f"VXLAN {frame.ip_src} > {frame.ip_dst} outer {e.outer_len} B: "
                f"{e.inner.ip_src} > {e.inner.ip_dst} inner {e.inner_len} B",
            )
        )

    async with Capture(ctx, points, spec, on_frame) as capture:
        res = await ctx.sources.read(
            sender, "ping_sizes", timeout=ctx.timeout, target=params.target,
            sizes=tuple(params.sizes),
        )  # fmt: skip
        if not res.ok and not res.stdout:
            raise CloudtalesError(
                f"host {sender.name}: `{res.command}` failed: {res.why}",
                host=sender.name,
                command=res.command,
            )
        sent = parse_ping_sizes(res.stdout, f"{sender.name}: ping_sizes")
        for size, ok in sent:
            ctx.emit(
                LiveLine(
                    f"{sender.name}:ping",
                    f"ping -M do -s {size} {params.target}: {'reply' if ok else 'LOST'}",
                    None if ok else f"{size + 28}-byte packet lost",
                )
            )
        await capture.drain(params.drain_seconds)
    point = points[0]
    frames = [f for p in points for f in p.frames]
    out = judge_underlay(point.host.name, point.iface, frames, sent, params.source_ip)
    return with_drops(out, points)


register(
    CheckType(
        name="vxlan_capture",
        title="VXLAN on the underlay while the instance pings (tcpdump udp port 4789)",
        outcomes=UNDERLAY_OUTCOMES,
        params=VxlanCaptureParams,
        run=run,
        facts=(
            "vxlan_frames",
            "overhead",
            "largest_inner",
            "largest_outer",
            "lost_sizes",
            "kernel_drops",
            "kernel_drops_total",
        ),
    )
)
