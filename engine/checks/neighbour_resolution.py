"""Check ``neighbour_resolution``: can the router make a neighbour entry for the target?

The probing host (outside) pings TARGET a few times through the router while tcpdump
(the capture API) watches ARP on the router's tenant side (its ``capture_iface``); the
kernel's ``table_fulls`` is read before and after, and the router's entry for TARGET
last. Pings lost, no entry for TARGET, no ARP reply from it, and ``table_fulls``
climbing meanwhile: the router could not make the entry because its table was full.
"""

from __future__ import annotations

from engine.capture.points import Capture, CapturePoint, CaptureSpec, with_drops
from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine, read_ok
from engine.checks.neighbour_table import read_table
from engine.checks.registry import register
from engine.detectors.neighbour import RESOLVE_OUTCOMES, arp_of, judge_resolution, parse_neigh
from engine.detectors.overlay import parse_ping_sizes
from engine.errors import CloudtalesError
from engine.parsers.frame import Frame
from engine.results import CheckResult


class NeighbourResolutionParams(CheckParams):
    target: str
    pings: int = 5  # one second each at most
    drain_seconds: float = 0.5


async def run(ctx: CheckContext, params: NeighbourResolutionParams) -> CheckResult:
    if len(ctx.hosts) != 2:
        raise CloudtalesError("neighbour_resolution needs two hosts: the prober, then the router")
    prober, router = ctx.hosts
    iface = router.vars.get("capture_iface")
    if not iface:
        raise CloudtalesError(f"neighbour_resolution: no capture_iface var on {router.name}")
    point = CapturePoint(router, str(iface))
    spec = CaptureSpec(
        bpf_filter="arp",
        snaplen=96,
        max_frames=2000,
        backstop=int(ctx.timeout) + 5,
        stream_timeout=ctx.timeout,
    )
    arps = []

    def on_frame(_point: CapturePoint, frame: Frame) -> None:
        arp = arp_of(frame)
        if arp is None:
            return
        arps.append(arp)
        if params.target in (arp.target_ip, arp.sender_ip):
            what = "who-has" if arp.op == 1 else "is-at from"
            ctx.emit(LiveLine(point.label, f"ARP {what} {params.target}", None))

    before = (await read_table(ctx, router))[-1]
    async with Capture(ctx, [point], spec, on_frame) as capture:
        res = await ctx.sources.read(
            prober, "ping_sizes", timeout=ctx.timeout, target=params.target,
            sizes=(56,) * max(1, params.pings), wait=1,
        )  # fmt: skip
        probes = [ok for _size, ok in parse_ping_sizes(res.stdout, f"host {prober.name}: ping")]
        await capture.drain(params.drain_seconds)
    after = (await read_table(ctx, router))[-1]
    entries = parse_neigh((await read_ok(ctx, router, "neigh_entries")).stdout)
    entry = next((e for e in entries if e.dst == params.target), None)
    out = judge_resolution(
        params.target, probes, arps, entry, after.table_fulls - before.table_fulls, point.label
    )
    bad = "the router cannot resolve it" if out.outcome == RESOLVE_OUTCOMES[0] else None
    ctx.emit(LiveLine(f"{router.name}:arp", out.summary, bad))
    return with_drops(out, [point])


register(
    CheckType(
        name="neighbour_resolution",
        title="Pings through the router while ARP for the target is watched on its tenant side",
        outcomes=RESOLVE_OUTCOMES,
        params=NeighbourResolutionParams,
        run=run,
        facts=(
            "probes",
            "lost",
            "arp_requests",
            "arp_replies",
            "router_entry",
            "table_fulls_delta",
            "other_arp",
            "kernel_drops",
            "kernel_drops_total",
        ),
    )
)
