"""Check ``overlay_links``: the VXLAN devices of a node and what their underlay carries."""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.registry import register
from engine.detectors.overlay import OVERLAY_OUTCOMES, judge_overlay_links, parse_vxlan_devices
from engine.errors import CloudtalesError
from engine.results import CheckResult


class OverlayLinksParams(CheckParams):
    pass


async def run(ctx: CheckContext, params: OverlayLinksParams) -> CheckResult:
    host = ctx.hosts[0]
    res = await ctx.sources.read(host, "ip_link", timeout=ctx.timeout)
    if not res.ok:
        raise CloudtalesError(
            f"host {host.name}: `{res.command}` failed: {res.why}",
            host=host.name,
            command=res.command,
        )
    devices = parse_vxlan_devices(res.stdout, f"{host.name}: {res.command}")
    for d in devices:
        short = d.underlay_mtu is not None and d.mtu > d.underlay_mtu - 50
        ctx.emit(
            LiveLine(
                f"{host.name}:ip link",
                f"{d.name} vni {d.vni} dstport {d.port} dev {d.underlay} mtu {d.mtu} "
                f"(underlay mtu {d.underlay_mtu})",
                "VXLAN MTU above underlay - 50" if short else None,
            )
        )
    return judge_overlay_links(host.name, devices, res.stdout)


register(
    CheckType(
        name="overlay_links",
        title="VXLAN devices and their underlay (ip -j -d link)",
        outcomes=OVERLAY_OUTCOMES,
        params=OverlayLinksParams,
        run=run,
        facts=(
            "vxlan_device",
            "vni",
            "dstport",
            "underlay",
            "underlay_mtu",
            "vxlan_mtu",
            "overlay_mtu",
            "overhead",
        ),  # fmt: skip
    )
)
