"""Check ``vlan_interface``: which device nova attaches tenant VLANs to (nova.conf)."""

from __future__ import annotations

from dataclasses import replace

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.base import worst_of
from engine.detectors.vlan import VLAN_IFACE_OUTCOMES, classify_vlan_interface
from engine.errors import CloudtalesError
from engine.parsers.nova_conf import NovaConf, parse_nova_conf
from engine.results import CheckResult


class VlanInterfaceParams(CheckParams):
    path: str = "/etc/nova/nova.conf"
    vlan_devices: list[str] | str = []


async def read_nova_conf(ctx: CheckContext, host_name: str, path: str) -> NovaConf:
    """The remote nova.conf, bounded to 1 MiB, parsed with configparser."""
    host = ctx.inventory.host(host_name)
    res = await ctx.sources.read(host, "nova_conf", timeout=ctx.timeout, path=path)
    if not res.ok:
        raise CloudtalesError(
            f"host {host_name}: cannot read {path}: {res.why}", host=host_name, command=res.command
        )
    return parse_nova_conf(res.stdout, f"{host_name}:{path}")


async def run(ctx: CheckContext, params: VlanInterfaceParams) -> CheckResult:
    devices = params.vlan_devices if isinstance(params.vlan_devices, list) else []

    async def one(name: str) -> CheckResult:
        conf = await read_nova_conf(ctx, name, params.path)
        value = conf.get("DEFAULT", "vlan_interface")
        outcome = classify_vlan_interface(name, conf.source, value, devices)
        ctx.emit(
            LiveLine(
                f"{name}:nova.conf",
                f"vlan_interface={value}",
                "tenant VLANs stack on a VLAN" if outcome.outcome == "is_vlan_device" else None,
            )
        )
        return outcome

    outcomes = await gather_all(one(h.name) for h in ctx.hosts)
    worst = worst_of(outcomes, VLAN_IFACE_OUTCOMES)
    facts = {
        "vlan_interface": worst.facts.get("vlan_interface"),
        "hosts": [o.summary for o in outcomes],
    }
    return replace(worst, facts=facts)


register(
    CheckType(
        name="vlan_interface",
        title="nova.conf vlan_interface",
        outcomes=VLAN_IFACE_OUTCOMES,
        params=VlanInterfaceParams,
        run=run,
        facts=("vlan_interface", "hosts"),
    )
)
