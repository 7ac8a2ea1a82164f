"""Check ``metadata_secret``: do neutron's agent and nova hold the same shared secret?

Reads ``metadata_agent.ini`` ([DEFAULT] metadata_proxy_shared_secret) and nova.conf
([neutron] metadata_proxy_shared_secret). The secrets are compared, never shown: the
evidence carries short SHA-256 fingerprints.
"""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.metadata import SECRET_OUTCOMES, judge_secrets, parse_ini
from engine.errors import CloudtalesError
from engine.results import CheckResult


class MetadataSecretParams(CheckParams):
    agent_conf: str = "/etc/neutron/metadata_agent.ini"
    nova_conf: str = "/etc/nova/nova.conf"


async def run(ctx: CheckContext, params: MetadataSecretParams) -> CheckResult:
    host = ctx.hosts[0]
    paths = (params.agent_conf, params.nova_conf)
    agent, nova = await gather_all(
        *(ctx.sources.read(host, "ini_file", timeout=ctx.timeout, path=p) for p in paths)
    )
    for path, res in zip(paths, (agent, nova), strict=True):
        if not res.ok:
            raise CloudtalesError(
                f"host {host.name}: cannot read {path}: {res.why}",
                host=host.name,
                command=res.command,
            )
    result = judge_secrets(
        host.name,
        parse_ini(agent.stdout, f"{host.name}:{params.agent_conf}"),
        parse_ini(nova.stdout, f"{host.name}:{params.nova_conf}"),
    )
    bad = None if result.outcome == "secrets_match" else "nova will reject the agent's signatures"
    ctx.emit(LiveLine(f"{host.name}:shared secret", result.summary, bad))
    return result


register(
    CheckType(
        name="metadata_secret",
        title="Compare metadata_proxy_shared_secret in metadata_agent.ini and nova.conf",
        outcomes=SECRET_OUTCOMES,
        params=MetadataSecretParams,
        run=run,
        facts=("agent_secret", "nova_secret"),
    )
)
