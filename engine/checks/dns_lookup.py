"""Check ``dns_lookup``: does a name resolve from this host (its resolver, or ``server``)?"""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.registry import register
from engine.detectors.dns import LOOKUP_OUTCOMES, judge_lookup, parse_dig
from engine.errors import CloudtalesError
from engine.results import CheckResult


class DnsLookupParams(CheckParams):
    name: str = "www.openstack.org"
    server: str = ""  # "": the host's own /etc/resolv.conf
    wait: int = 2


async def run(ctx: CheckContext, params: DnsLookupParams) -> CheckResult:
    host = ctx.hosts[0]
    res = await ctx.sources.read(
        host, "dns_lookup", timeout=ctx.timeout, qname=params.name, server=params.server,
        wait=params.wait,
    )  # fmt: skip
    if not res.stdout.strip():
        raise CloudtalesError(
            f"host {host.name}: `{res.command}` printed nothing: {res.why}",
            host=host.name,
            command=res.command,
        )
    result = judge_lookup(host.name, params.name, params.server, parse_dig(res.stdout), res.stdout)
    bad = None if result.outcome == "answered" else "no answer"
    ctx.emit(LiveLine(f"{host.name}:dig", result.summary, bad))
    return result


register(
    CheckType(
        name="dns_lookup",
        title="Resolve a name from the host (dig, one try)",
        outcomes=LOOKUP_OUTCOMES,
        params=DnsLookupParams,
        run=run,
        facts=("name", "server", "status", "why", "ede", "answers"),
    )
)
