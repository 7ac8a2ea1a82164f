"""Check ``conntrack_syn_drop``: does a new connection die in the router's conntrack?

tcpdump (through the capture API) on the wire before the router (the probing host's
``capture_iface``) and behind it (the router's own ``capture_iface``, its tenant side)
while the probing host opens one new connection to TARGET:PORT; the router's conntrack
``drop`` counter is read before and after. SYNs before, none behind, the counter
climbing: the router dropped them because it could not track them.
"""

from __future__ import annotations

from engine.capture.points import Capture, CapturePoint, CaptureSpec, with_drops
from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.conntrack_table import read_drops
from engine.checks.registry import register
from engine.detectors.conntrack import SYN_OUTCOMES, judge_syns, syns, tcp_syn_to
from engine.errors import CloudtalesError
from engine.parsers.frame import Frame
from engine.results import CheckResult


class ConntrackSynDropParams(CheckParams):
    target: str
    port: int = 8080
    seconds: int = 3  # the connect's bound: its SYN is retransmitted after 1 s
    drain_seconds: float = 0.5


async def run(ctx: CheckContext, params: ConntrackSynDropParams) -> CheckResult:
    if len(ctx.hosts) != 2:
        raise CloudtalesError("conntrack_syn_drop needs two hosts: the prober, then the router")
    prober, router = ctx.hosts
    ifaces = [h.vars.get("capture_iface") for h in ctx.hosts]
    if not all(ifaces):
        raise CloudtalesError(
            f"conntrack_syn_drop: no capture_iface var on {prober.name} or {router.name}"
        )
    before_pt, behind_pt = (CapturePoint(h, str(i)) for h, i in zip(ctx.hosts, ifaces, strict=True))
    spec = CaptureSpec(
        bpf_filter=f"tcp dst port {params.port} and dst host {params.target}",
        snaplen=128,
        max_frames=200,
        backstop=int(ctx.timeout) + 5,
        stream_timeout=ctx.timeout,
    )

    def on_frame(point: CapturePoint, frame: Frame) -> None:
        if tcp_syn_to(frame, params.target, params.port):
            bad = "SYN behind the router" if point is behind_pt else None
            ctx.emit(
                LiveLine(point.label, f"SYN {frame.ip_src} > {params.target}:{params.port}", bad)
            )

    drops_before = await read_drops(ctx, router)
    async with Capture(ctx, [before_pt, behind_pt], spec, on_frame) as capture:
        res = await ctx.sources.read(
            prober, "tcp_connect_probe", timeout=ctx.timeout, target=params.target,
            port=params.port, seconds=params.seconds,
        )  # fmt: skip
        if not res.ok and not res.stdout:
            raise CloudtalesError(f"host {prober.name}: `{res.command}` failed: {res.why}")
        await capture.drain(params.drain_seconds)
    drops_after = await read_drops(ctx, router)
    delta = (drops_after or 0) - (drops_before or 0) if drops_before is not None else 0
    sent = syns(before_pt.frames, params.target, params.port)
    forwarded = syns(behind_pt.frames, params.target, params.port)
    out = judge_syns(before_pt.label, sent, behind_pt.label, forwarded, delta,
                     params.target, params.port)  # fmt: skip
    bad = "new flows die in the router's conntrack" if out.outcome == SYN_OUTCOMES[0] else None
    ctx.emit(LiveLine("conntrack", out.summary, bad))
    return with_drops(out, [before_pt, behind_pt])


register(
    CheckType(
        name="conntrack_syn_drop",
        title="A new connection's SYNs before and behind the router, conntrack drops counted",
        outcomes=SYN_OUTCOMES,
        params=ConntrackSynDropParams,
        run=run,
        facts=(
            "syns_sent",
            "syns_forwarded",
            "drops_delta",
            "kernel_drops",
            "kernel_drops_total",
        ),
    )
)
