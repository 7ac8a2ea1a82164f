"""Check ``dns_capture``: DNS on the resolver's interface while the client looks a name up.

tcpdump (``udp port 53``) on the DNS server's host while the client runs one ``dig``:
the client's queries, the rcodes of the replies, and whether the server forwarded.
"""

from __future__ import annotations

from engine.capture.points import Capture, CapturePoint, CaptureSpec, with_drops
from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.registry import register
from engine.detectors.dns import CAPTURE_OUTCOMES, dns_packet, judge_capture
from engine.parsers.frame import Frame
from engine.results import CheckResult


class DnsCaptureParams(CheckParams):
    traffic_from: str  # the client host or role (the instance)
    client_ip: str
    server_ip: str
    iface: str = "any"
    name: str = "www.openstack.org"
    wait_seconds: float = 4.0  # for the reply to the client to show up in the capture
    drain_seconds: float = 1.0


async def run(ctx: CheckContext, params: DnsCaptureParams) -> CheckResult:
    client = ctx.inventory.resolve(params.traffic_from)[0]
    points = [CapturePoint(h, params.iface) for h in ctx.hosts]
    spec = CaptureSpec(
        bpf_filter="udp port 53",
        snaplen=512,
        max_frames=500,
        backstop=int(ctx.timeout) + 5,
        stream_timeout=ctx.timeout,
    )

    def on_frame(point: CapturePoint, frame: Frame) -> None:
        p = dns_packet(frame)
        if p is None:
            return
        kind = f"reply {p.rcode}" if p.is_reply else "query"
        bad = f"{p.rcode}" if p.is_reply and p.rcode != "NOERROR" else None
        ctx.emit(LiveLine(point.label, f"{p.src} > {p.dst} {kind} {p.qname}", bad))

    async with Capture(ctx, points, spec, on_frame) as capture:
        await ctx.sources.read(
            client, "dns_lookup", timeout=ctx.timeout, qname=params.name,
            server=params.server_ip, wait=2,
        )  # fmt: skip

        def replied() -> bool:
            return any(
                (d := dns_packet(f)) is not None and d.is_reply and d.dst == params.client_ip
                for p in points
                for f in p.frames
            )

        await capture.wait(replied, params.wait_seconds)  # the frames trail the lookup
        await capture.drain(params.drain_seconds)
    frames = [f for p in points for f in p.frames]
    out = judge_capture(points[0].label, frames, params.client_ip, params.server_ip)
    return with_drops(out, points)


register(
    CheckType(
        name="dns_capture",
        title="DNS queries and replies on the resolver while the client asks (tcpdump)",
        outcomes=CAPTURE_OUTCOMES,
        params=DnsCaptureParams,
        run=run,
        facts=(
            "queries",
            "replies",
            "rcodes",
            "forwarded_seen",
            "kernel_drops",
            "kernel_drops_total",
        ),
    )
)
