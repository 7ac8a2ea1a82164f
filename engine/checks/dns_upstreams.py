"""Check ``dns_upstreams``: which upstreams dnsmasq forwards to, and can its host reach them?

dnsmasq's command lines in the host's network namespace (``--server=``, ``--log-facility``),
the tail of its query log, then per upstream the route (``ip route get``) and one direct
query from the host itself.
"""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine, read_ok
from engine.checks.lease_time import parse_processes
from engine.checks.registry import register
from engine.detectors.dns import (
    UPSTREAM_OUTCOMES,
    UpstreamProbe,
    judge_upstreams,
    log_path,
    parse_dig,
    query_log_lines,
    upstreams,
)
from engine.remote.inventory import Host
from engine.results import CheckResult


class DnsUpstreamsParams(CheckParams):
    name: str = "www.openstack.org"


async def _probe(ctx: CheckContext, host: Host, server: str, name: str) -> UpstreamProbe:
    route = await ctx.sources.read(host, "route_get", timeout=ctx.timeout, target=server)
    said = route.stdout or route.stderr
    routed = route.ok and " dev " in said
    dig = await ctx.sources.read(
        host, "dns_lookup", timeout=ctx.timeout, qname=name, server=server, wait=2
    )
    probe = UpstreamProbe(server, said, routed, parse_dig(dig.stdout))
    bad = None if routed and probe.dig.status else f"{server} unreachable"
    ctx.emit(
        LiveLine(
            f"{host.name}:upstream",
            f"{server}: {said.strip() or 'no route'}; direct: {probe.dig.status or probe.dig.why}",
            bad,
        )
    )
    return probe


async def run(ctx: CheckContext, params: DnsUpstreamsParams) -> CheckResult:
    host = ctx.hosts[0]
    res = await read_ok(ctx, host, "dnsmasq_processes")  # ok and empty: none runs
    procs = parse_processes(res.stdout)
    servers: list[str] = []
    log: list[str] = []
    for pid, argv in procs.items():
        found = upstreams(argv)
        ctx.emit(LiveLine(f"{host.name}:dnsmasq", f"pid {pid}: --server {', '.join(found)}"))
        servers += found
        path = log_path(argv)
        if path:
            tail = await ctx.sources.read(host, "service_log_tail", timeout=ctx.timeout, path=path)
            if tail.ok:
                log += query_log_lines(tail.stdout)
    servers = list(dict.fromkeys(servers))
    probes = [await _probe(ctx, host, s, params.name) for s in servers]
    return judge_upstreams(host.name, len(procs), servers, probes, log)


register(
    CheckType(
        name="dns_upstreams",
        title="dnsmasq's upstream resolvers: configured, routed, answering",
        outcomes=UPSTREAM_OUTCOMES,
        params=DnsUpstreamsParams,
        run=run,
        facts=("upstreams", "unreachable", "routes", "log"),
    )
)
