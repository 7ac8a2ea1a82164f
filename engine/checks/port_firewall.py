"""Check ``port_firewall``: does the instance port's firewall chain let TCP PORT in?

On the compute: ``iptables-save -c`` (the rules with their counters) and
``conntrack -L``. The port's ingress chain is found as neutron's iptables_hybrid
driver lays it out (``--physdev-out TAP`` jumps); a rule accepting new TCP to the
port is looked for, the DROP counters and the conntrack flows to the port are shown.
"""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.secgroup import RULES_OUTCOMES, judge_port_rules
from engine.errors import CloudtalesError
from engine.parsers.iptables_save import parse_conntrack, parse_iptables_save
from engine.results import CheckResult


class PortFirewallParams(CheckParams):
    target: str  # the instance's address
    port: int = 22
    tap: str | None = None  # default: the host's tap_iface var


async def run(ctx: CheckContext, params: PortFirewallParams) -> CheckResult:
    host = ctx.hosts[0]
    tap = params.tap or host.vars.get("tap_iface")
    if not tap:
        raise CloudtalesError(
            f"host {host.name}: no tap given and no tap_iface var", host=host.name
        )
    rules, flows = await gather_all(
        ctx.sources.read(host, "iptables_rules", timeout=ctx.timeout),
        ctx.sources.read(host, "conntrack_table", timeout=ctx.timeout),
    )
    if not rules.ok:
        raise CloudtalesError(
            f"host {host.name}: `{rules.command}` failed: {rules.why}",
            host=host.name,
            command=rules.command,
        )
    result = judge_port_rules(
        host.name,
        str(tap),
        params.port,
        params.target,
        parse_iptables_save(rules.stdout),
        parse_conntrack(flows.stdout) if flows.ok else [],
    )
    bad = "the port's security group drops it" if result.outcome == "port_not_allowed" else None
    ctx.emit(LiveLine(f"{host.name}:iptables", result.summary, bad))
    return result


register(
    CheckType(
        name="port_firewall",
        title="Read the instance port's firewall chain and conntrack (iptables_hybrid)",
        outcomes=RULES_OUTCOMES,
        params=PortFirewallParams,
        run=run,
        facts=(
            "tap",
            "port_chain",
            "allowing",
            "chain_rules",
            "drops",
            "conntrack_flows",
            "conntrack_states",
            "conntrack",
        ),
    )
)
