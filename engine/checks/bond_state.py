"""Check ``bond_state``: the bond and each member's link (``ip -j -d link`` plus the
bonding driver's ``/proc/net/bonding/<bond>``).

Works on a real bond (``info_kind bond``, members with ``master bond0``) and on a
stand-in whose members are listed only by its status file. The bond's name comes
from the host var ``uplink`` (default ``bond0``); the status file from the host var
``bonding_status`` (default ``/proc/net/bonding/<bond>``). ``host``: an OpenStack host
name from a fact (``{facts.cs-services.down_host}``), mapped to the inventory, instead
of the check's hosts.
"""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.base import merge_outcomes
from engine.detectors.bond import BOND_OUTCOMES, detect_bond, member_states
from engine.errors import CloudtalesError
from engine.parsers.iplink import parse_ip_link
from engine.parsers.proc_bonding import BondStatus, parse_proc_bonding
from engine.remote.inventory import Host
from engine.results import CheckResult
from engine.sources.api_hosts import inventory_host


class BondStateParams(CheckParams):
    host: str = ""  # an OpenStack host name (the API's), instead of the check's hosts
    bond: str = ""  # empty: the host var named by bond_var, else bond0
    bond_var: str = "uplink"
    status_var: str = "bonding_status"


def bond_name(host: Host, params: BondStateParams) -> str:
    return params.bond or str(host.vars.get(params.bond_var) or "bond0")


def status_path(host: Host, bond: str, status_var: str) -> str:
    return str(host.vars.get(status_var) or f"/proc/net/bonding/{bond}")


async def read_status(
    ctx: CheckContext, host: Host, path: str
) -> tuple[BondStatus | None, str | None]:
    """The parsed status file, or (None, why not) when it is absent."""
    res = await ctx.sources.read(host, "proc_net_bonding", timeout=ctx.timeout, path=path)
    if not res.ok:
        said = res.stderr.strip().splitlines()[-1:] or [f"exit status {res.exit_status}"]
        return None, f"{path}: not readable ({said[0][:160]})"
    try:
        return parse_proc_bonding(res.stdout, f"{host.name}:{path}"), None
    except CloudtalesError as exc:  # judge the links alone, and say why
        return None, str(exc)


async def _one(ctx: CheckContext, host: Host, params: BondStateParams) -> CheckResult:
    bond = bond_name(host, params)
    links_res, (status, note) = await gather_all(
        ctx.sources.read(host, "ip_link", timeout=ctx.timeout),
        read_status(ctx, host, status_path(host, bond, params.status_var)),
    )
    if not links_res.ok:
        raise CloudtalesError(
            f"host {host.name}: `{links_res.command}` failed: {links_res.why}",
            host=host.name,
            command=links_res.command,
        )
    links = parse_ip_link(links_res.stdout, f"{host.name}: {links_res.command}")
    source = f"{host.name}:{bond}"
    for link in links:
        if link.ifname == bond:
            ctx.emit(
                LiveLine(
                    source,
                    f"{bond}: {link.operstate}, flags {','.join(link.flags)}",
                    None if link.carrier else f"{bond} has no carrier",
                )
            )
    for m in member_states(bond, links, status):
        ctx.emit(LiveLine(source, m.line(), None if m.has_link else f"{m.name} lost its link"))
    return detect_bond(host.name, bond, links, status, note)


async def run(ctx: CheckContext, params: BondStateParams) -> CheckResult:
    hosts = [inventory_host(ctx.inventory, params.host)] if params.host else ctx.hosts
    if not hosts:
        raise CloudtalesError("bond_state: no hosts to check")
    outcomes = await gather_all(_one(ctx, h, params) for h in hosts)
    merged = merge_outcomes(outcomes, BOND_OUTCOMES)
    return merged


register(
    CheckType(
        name="bond_state",
        title="Bond and member links (ip -j -d link, /proc/net/bonding)",
        outcomes=BOND_OUTCOMES,
        params=BondStateParams,
        run=run,
        facts=(
            "bond",
            "bond_kind",
            "bond_operstate",
            "bond_carrier",
            "slaves",
            "slaves_down",
            "active_slave",
            "mode",
            "other_links_up",
        ),
    )
)
