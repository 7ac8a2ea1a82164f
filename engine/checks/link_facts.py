"""Check ``link_facts``: VLAN stacking from ``ip -j -d link`` on each host."""

from __future__ import annotations

from dataclasses import replace

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.base import worst_of
from engine.detectors.vlan import LINK_OUTCOMES, detect_vlan_stacking
from engine.errors import CloudtalesError
from engine.parsers.iplink import parse_ip_link
from engine.results import CheckResult


class LinkFactsParams(CheckParams):
    pass


async def _one(ctx: CheckContext, host_name: str) -> CheckResult:
    host = ctx.inventory.host(host_name)
    res = await ctx.sources.read(host, "ip_link", timeout=ctx.timeout)
    if not res.ok:
        raise CloudtalesError(
            f"host {host_name}: `{res.command}` failed: {res.why}",
            host=host_name,
            command=res.command,
        )
    links = parse_ip_link(res.stdout, f"{host_name}: {res.command}")
    for link in links:
        ctx.emit(
            LiveLine(
                f"{host_name}:ip link",
                f"{link.label:<20} {link.kind or '-':<7} "
                f"mtu {link.mtu:<5} {link.operstate:<7} master {link.master or '-'}",
                "VLAN on VLAN"
                if link.is_vlan
                and link.parent
                and any(p.ifname == link.parent and p.is_vlan for p in links)
                else None,
            )
        )
    return detect_vlan_stacking(host_name, links)


async def run(ctx: CheckContext, params: LinkFactsParams) -> CheckResult:
    outcomes = await gather_all(_one(ctx, h.name) for h in ctx.hosts)
    worst = worst_of(outcomes, LINK_OUTCOMES)
    devices = [d for o in outcomes for d in o.facts.get("vlan_devices", []) or []]  # type: ignore[union-attr]
    stacked = [d for o in outcomes for d in o.facts.get("stacked_devices", []) or []]  # type: ignore[union-attr]
    return replace(worst, facts={"vlan_devices": devices, "stacked_devices": stacked})


register(
    CheckType(
        name="link_facts",
        title="Link facts (ip -j -d link)",
        outcomes=LINK_OUTCOMES,
        params=LinkFactsParams,
        run=run,
        facts=("vlan_devices", "stacked_devices"),
    )
)
