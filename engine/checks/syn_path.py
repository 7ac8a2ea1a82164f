"""Check ``syn_path``: where do the SYNs to an instance's port stop?

While a host outside connects to TARGET:PORT, tcpdump watches for SYNs on the
compute's bridge for the port (the tap's bridge side) and inside the instance; the
port chain's DROP counters are read before and after. SYNs on the bridge, none in the
instance, and DROP counters climbing: the compute's firewall drops them.

The connect starts a second after the captures (their lead time to start); a
connect that goes unanswered retransmits its SYN after 1 s and 3 s, so a capture
that started late still sees it.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine, ensure_ok, read_ok
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.secgroup import SYN_OUTCOMES, count_syns, drop_packets, judge_syns, port_chain
from engine.errors import CloudtalesError
from engine.parsers.iptables_save import parse_iptables_save
from engine.parsers.pcap_scan import parse_tcpdump_drop_stats
from engine.remote.inventory import Host
from engine.remote.runner import CommandResult
from engine.results import CheckResult, FactValue

LEAD_SECONDS = 1.0


class SynPathParams(CheckParams):
    traffic_from: str = "outside"
    target: str
    port: int = 22
    seconds: int = 5
    bridge_iface: str | None = None  # default: the compute's bridge var
    instance_iface: str | None = None  # default: the instance's capture_iface var


async def _drops(ctx: CheckContext, compute: Host) -> int | None:
    tap = compute.vars.get("tap_iface")
    res = await read_ok(ctx, compute, "iptables_rules")
    rules = parse_iptables_save(res.stdout)
    chain = port_chain(rules, str(tap)) if tap else None
    return drop_packets(rules, chain) if chain else None


async def run(ctx: CheckContext, params: SynPathParams) -> CheckResult:
    if len(ctx.hosts) != 2:
        raise CloudtalesError("syn_path needs two hosts: the compute, then the instance")
    compute, instance = ctx.hosts
    source = ctx.inventory.host(params.traffic_from)
    bridge = params.bridge_iface or compute.vars.get("bridge")
    inside = params.instance_iface or instance.vars.get("capture_iface")
    if not bridge or not inside:
        raise CloudtalesError(
            f"syn_path: no bridge_iface (compute var bridge) or instance_iface "
            f"(instance var capture_iface) for {compute.name}/{instance.name}"
        )
    before = await _drops(ctx, compute)

    async def connect() -> CommandResult:
        await asyncio.sleep(LEAD_SECONDS)
        return await ctx.sources.read(
            source, "tcp_connect_probe", timeout=ctx.timeout, target=params.target,
            port=params.port, seconds=max(1, params.seconds - 2),
        )  # fmt: skip

    cap = {"port": params.port, "seconds": params.seconds}
    at_bridge, in_instance, _ = await gather_all(
        ctx.sources.read(compute, "syn_capture", timeout=ctx.timeout, iface=str(bridge), **cap),
        ctx.sources.read(instance, "syn_capture", timeout=ctx.timeout, iface=str(inside), **cap),
        connect(),
    )
    after = await _drops(ctx, compute)
    bridge_syns = count_syns(ensure_ok(at_bridge, compute).stdout)
    instance_syns = count_syns(ensure_ok(in_instance, instance).stdout)
    for host, lines in ((compute, bridge_syns), (instance, instance_syns)):
        for line in lines[:10]:
            ctx.emit(LiveLine(f"{host.name}:tcpdump", line))
    result = judge_syns(
        f"{compute.name} {bridge}", bridge_syns, f"{instance.name} {inside}", instance_syns,
        before, after,
    )  # fmt: skip
    bad = (
        "SYNs die between the bridge and the instance"
        if result.outcome == SYN_OUTCOMES[0]
        else None
    )
    ctx.emit(LiveLine("syn path", result.summary, bad))
    return with_kernel_drops(
        result,
        {
            f"{compute.name}:{bridge}": at_bridge.stdout,
            f"{instance.name}:{inside}": in_instance.stdout,
        },
    )


def with_kernel_drops(result: CheckResult, outputs: dict[str, str]) -> CheckResult:
    """tcpdump's own "packets dropped by kernel" per point (its exit summary, printed
    into stdout by ``2>&1``); ``kernel_drops_total`` only when every point printed one:
    a SYN tcpdump dropped is not a SYN the firewall dropped."""
    dropped = {
        point: n
        for point, text in outputs.items()
        if (n := parse_tcpdump_drop_stats(text.splitlines())) is not None
    }
    facts: dict[str, FactValue] = {**result.facts, "kernel_drops": dropped}
    if len(dropped) == len(outputs):
        facts["kernel_drops_total"] = sum(dropped.values())
    return replace(result, facts=facts)


register(
    CheckType(
        name="syn_path",
        title="SYNs on the compute's bridge and in the instance, DROP counters before/after",
        outcomes=SYN_OUTCOMES,
        params=SynPathParams,
        run=run,
        facts=(
            "syn_at_bridge",
            "syn_in_instance",
            "drops_before",
            "drops_after",
            "drops_delta",
            "kernel_drops",
            "kernel_drops_total",
        ),
    )
)
