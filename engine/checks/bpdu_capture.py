"""Check ``bpdu_capture``: who sends spanning-tree BPDUs towards the switch?

A switch port with BPDU guard shuts down on the first BPDU it hears, so the node
must never send one. This captures only BPDUs (``ether dst 01:80:c2:00:00:00`` or
the PVST+ ``01:00:0c:cc:cc:cd``) through the capture API (``engine.capture.points``),
decoded by ``engine.analyzers.stp``:

- on the uplink (host var ``uplink``), outbound only (``-Q out``), while it has carrier;
- on every guest tap device (``tap*``), inbound from the guest (``-Q in``), once the
  uplink is down: the switch already cut it, but the guest keeps talking.

A bridge says hello every 2 s, so ``seconds`` defaults to 5; the capture stops early
once ``stop_after`` BPDUs arrived.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import replace

from engine.analyzers.stp import Bpdu, iter_bpdus
from engine.analyzers.summary import describe
from engine.capture.points import Capture, CapturePoint, CaptureSpec, with_drops
from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine, read_ok
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.base import merge_outcomes
from engine.detectors.stp import CAPTURE_OUTCOMES, detect_bpdu_capture
from engine.errors import CloudtalesError
from engine.parsers.iplink import LinkInfo, parse_ip_link
from engine.parsers.pcap import PVST_MAC, STP_MAC, Frame
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


def capture_spec(params: BpduCaptureParams, timeout: float) -> CaptureSpec:
    return CaptureSpec(
        bpf_filter=BPDU_FILTER,
        snaplen=params.snaplen,
        max_frames=params.max_frames,
        arm_timeout=params.arm_timeout,
        backstop=int(params.seconds + params.arm_timeout) + 5,
        stream_timeout=timeout,
        poll=0.1,
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


def _on_frame(ctx: CheckContext) -> Callable[[CapturePoint, Frame], None]:
    def on_frame(point: CapturePoint, frame: Frame) -> None:
        why = "BPDU from a guest" if point.direction == "in" else "BPDU towards the switch"
        ctx.emit(LiveLine(point.label, describe(frame, macs=True), why))

    return on_frame


async def _collect(
    ctx: CheckContext, points: list[CapturePoint], params: BpduCaptureParams
) -> None:
    """Capture until ``stop_after`` BPDUs arrived or ``seconds`` passed."""
    async with Capture(ctx, points, capture_spec(params, ctx.timeout), _on_frame(ctx)) as cap:
        ctx.emit(
            LiveLine(
                points[0].host.name,
                f"capturing BPDUs on {', '.join(p.label for p in points)} "
                f"for up to {params.seconds:g} s",
            )
        )

        def enough() -> bool:
            return bool(params.stop_after) and sum(len(p.frames) for p in points) >= (
                params.stop_after
            )

        await cap.wait(enough, params.seconds)


async def _one(ctx: CheckContext, host: Host, params: BpduCaptureParams) -> CheckResult:
    res = await read_ok(ctx, host, "ip_link")
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
    points = [CapturePoint(host, iface, direction) for iface, direction in chosen]
    await _collect(ctx, points, params)
    bpdus: dict[str, list[Bpdu]] = {p.iface: list(iter_bpdus(p.frames)) for p in points}
    guests = [p.iface for p in points if p.direction == "in"]
    out = detect_bpdu_capture(host.name, bpdus, guests, host_macs)
    why = f"{uplink} has no carrier: " if mode == "taps" else ""
    result = CheckResult(
        out.outcome, f"{why}{out.summary}", {**out.facts, "capture_mode": mode}, out.evidence
    )
    return with_drops(result, points)


async def run(ctx: CheckContext, params: BpduCaptureParams) -> CheckResult:
    if not ctx.hosts:
        raise CloudtalesError("bpdu_capture: no hosts to capture on")
    outcomes = await gather_all(_one(ctx, h, params) for h in ctx.hosts)
    merged = merge_outcomes(outcomes, CAPTURE_OUTCOMES)
    dropped: dict[str, int] = {}
    for o in outcomes:  # every host's points (a merge keeps one host's dict)
        found = o.facts.get("kernel_drops")
        dropped.update(found if isinstance(found, dict) else {})
    facts = {**merged.facts, "kernel_drops": dropped}
    facts.pop("kernel_drops_total", None)
    totals = [o.facts.get("kernel_drops_total") for o in outcomes]
    if all(isinstance(t, int) for t in totals):  # every host's every point counted
        facts["kernel_drops_total"] = sum(t for t in totals if isinstance(t, int))
    return replace(merged, facts=facts)


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
            "kernel_drops",
            "kernel_drops_total",
        ),
    )
)
