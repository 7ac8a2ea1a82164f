"""Check ``dhcp_client``: is the instance's DHCP client alive, and does it hold an address?

"We find that dhclient is not running after The Issue happens." One read-only
command per host: the DHCP client processes of the host's own network namespace
(``pgrep`` plus ``/proc/PID/ns/net``) and ``ip -j -4 addr show dev IFACE``.
"""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.base import worst_of
from engine.detectors.dhcp import DHCP_CLIENT_OUTCOMES, judge_dhcp_client
from engine.errors import CloudtalesError
from engine.parsers.dhcp_client import parse_client_report
from engine.results import CheckResult


class DhcpClientParams(CheckParams):
    iface: str | None = None  # default: the host's iface_var
    iface_var: str = "dhcp_iface"


async def _one(ctx: CheckContext, host_name: str, params: DhcpClientParams) -> CheckResult:
    host = ctx.inventory.host(host_name)
    iface = params.iface or host.vars.get(params.iface_var) or host.vars.get("capture_iface")
    if not iface:
        raise CloudtalesError(f"host {host_name}: no iface given and no {params.iface_var} var")
    res = await ctx.sources.read(host, "dhcp_client_report", timeout=ctx.timeout, iface=str(iface))
    report = parse_client_report(res.stdout, f"host {host_name}: DHCP client report")
    if not report.iface_present:
        raise CloudtalesError(f"host {host_name}: no interface {iface}")
    for proc in report.processes:
        ctx.emit(LiveLine(f"{host_name}:ps", f"pid {proc.pid}: {proc.args}"))
    ctx.emit(
        LiveLine(
            f"{host_name}:ip addr",
            f"{iface}: {', '.join(report.addresses) or 'no IPv4 address'}",
            None if report.addresses else f"{iface} has no IPv4 address",
        )
    )
    return judge_dhcp_client(host_name, str(iface), report)


async def run(ctx: CheckContext, params: DhcpClientParams) -> CheckResult:
    outcomes = await gather_all(_one(ctx, h.name, params) for h in ctx.hosts)
    return worst_of(outcomes, DHCP_CLIENT_OUTCOMES)


register(
    CheckType(
        name="dhcp_client",
        title="Is the DHCP client running, does the interface hold its address?",
        outcomes=DHCP_CLIENT_OUTCOMES,
        params=DhcpClientParams,
        run=run,
        facts=("client_running", "client_processes", "addresses", "iface_present"),
    )
)
