"""Check ``instance_mtu``: an instance interface's MTU against what the overlay carries."""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.registry import register
from engine.detectors.overlay import INSTANCE_MTU_OUTCOMES, judge_instance_mtu
from engine.errors import CloudtalesError
from engine.parsers.iplink import parse_ip_link
from engine.results import CheckResult


class InstanceMtuParams(CheckParams):
    iface: str
    overlay_mtu: int | str  # a fact reference at load time, a number when run


async def run(ctx: CheckContext, params: InstanceMtuParams) -> CheckResult:
    host = ctx.hosts[0]
    res = await ctx.sources.read(host, "ip_link", timeout=ctx.timeout)
    if not res.ok:
        raise CloudtalesError(
            f"host {host.name}: `{res.command}` failed: {res.why}",
            host=host.name,
            command=res.command,
        )
    links = parse_ip_link(res.stdout, f"{host.name}: {res.command}")
    link = next((x for x in links if x.ifname == params.iface), None)
    if link is None:
        raise CloudtalesError(
            f"host {host.name}: no interface {params.iface} "
            f"(has {', '.join(x.ifname for x in links)})",
            host=host.name,
            command=res.command,
        )
    try:
        overlay_mtu = int(params.overlay_mtu)
    except ValueError:
        raise CloudtalesError(
            f"check instance_mtu: overlay_mtu {params.overlay_mtu!r} is not a number"
        ) from None
    result = judge_instance_mtu(host.name, link, overlay_mtu)
    bad = "larger than the overlay carries" if result.outcome == "exceeds_overlay" else None
    ctx.emit(LiveLine(f"{host.name}:ip link", f"{link.ifname} mtu {link.mtu}", bad))
    return result


register(
    CheckType(
        name="instance_mtu",
        title="The instance's MTU against the overlay's (ip -j -d link)",
        outcomes=INSTANCE_MTU_OUTCOMES,
        params=InstanceMtuParams,
        run=run,
        facts=("iface", "instance_mtu", "overlay_mtu", "excess", "tx_dropped"),
    )
)
