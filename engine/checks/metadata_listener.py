"""Check ``metadata_listener``: does anything listen where the metadata redirect points?

In the router (or DHCP) namespace: the TCP listeners with their processes
(``ss -Hltnp``) and the nat rules (``iptables-save -c``) that redirect
169.254.169.254:80 to the metadata proxy's port (9697 upstream).
"""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.metadata import (
    LISTENER_OUTCOMES,
    judge_listener,
    parse_listeners,
    redirect_rules,
)
from engine.errors import CloudtalesError
from engine.results import CheckResult


class MetadataListenerParams(CheckParams):
    port: int = 9697


async def run(ctx: CheckContext, params: MetadataListenerParams) -> CheckResult:
    host = ctx.hosts[0]
    listeners, rules = await gather_all(
        ctx.sources.read(host, "tcp_listeners", timeout=ctx.timeout),
        ctx.sources.read(host, "iptables_rules", timeout=ctx.timeout),
    )
    for res in (listeners, rules):
        if not res.ok:
            raise CloudtalesError(
                f"host {host.name}: `{res.command}` failed: {res.why}",
                host=host.name,
                command=res.command,
            )
    result = judge_listener(
        host.name,
        params.port,
        parse_listeners(listeners.stdout),
        redirect_rules(rules.stdout, params.port),
    )
    bad = "the metadata proxy is not listening" if result.outcome == "not_listening" else None
    ctx.emit(LiveLine(f"{host.name}:ss -ltnp", result.summary, bad))
    return result


register(
    CheckType(
        name="metadata_listener",
        title="Is the metadata proxy listening behind the 169.254.169.254 redirect?",
        outcomes=LISTENER_OUTCOMES,
        params=MetadataListenerParams,
        run=run,
        facts=("port", "listener", "redirect", "listeners"),
    )
)
