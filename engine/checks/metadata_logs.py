"""Check ``metadata_logs``: what the metadata proxy, the agent and nova logged.

The bounded tails of haproxy's, neutron-metadata-agent's and nova-api-metadata's logs:
nova's "X-Instance-ID-Signature ... does not match" and the agent's "responded with
Forbidden" are the shared-secret mismatch, written down by both sides.
"""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.metadata import LOG_OUTCOMES, scan_logs
from engine.errors import CloudtalesError
from engine.results import CheckResult


class MetadataLogsParams(CheckParams):
    proxy_log: str
    agent_log: str = "/var/log/neutron/neutron-metadata-agent.log"
    nova_log: str = "/var/log/nova/nova-api-metadata.log"


async def run(ctx: CheckContext, params: MetadataLogsParams) -> CheckResult:
    host = ctx.hosts[0]
    paths = {"proxy": params.proxy_log, "agent": params.agent_log, "nova": params.nova_log}
    results = await gather_all(
        ctx.sources.read(host, "service_log_tail", timeout=ctx.timeout, path=p)
        for p in paths.values()
    )
    logs: dict[str, str] = {}
    for (label, path), res in zip(paths.items(), results, strict=True):
        if not res.ok:
            raise CloudtalesError(
                f"host {host.name}: cannot read the {label} log {path}: {res.why}",
                host=host.name,
                command=res.command,
            )
        logs[label] = res.stdout
    result = scan_logs(host.name, logs)
    bad = None if result.outcome == "no_errors" else "the metadata backend refuses or fails"
    ctx.emit(LiveLine(f"{host.name}:metadata logs", result.summary, bad))
    return result


register(
    CheckType(
        name="metadata_logs",
        title="Read the metadata proxy's, agent's and nova's logs",
        outcomes=LOG_OUTCOMES,
        params=MetadataLogsParams,
        run=run,
        facts=(
            "signature_rejected",
            "agent_forbidden",
            "backend_errors",
            "proxy_requests",
            "proxy_403",
        ),
    )
)
