"""Check ``metadata_probe``: can the instance fetch http://169.254.169.254/, and by which route?

One read-only command on the instance: ``ip route get 169.254.169.254`` and one
``curl`` GET bounded by ``--max-time``. Refused, timed out, 403 and 5xx are told apart.
"""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.registry import register
from engine.detectors.metadata import PROBE_OUTCOMES, judge_probe, parse_probe
from engine.errors import CloudtalesError
from engine.results import CheckResult


class MetadataProbeParams(CheckParams):
    path: str = "/latest/meta-data/instance-id"
    max_time: int = 3


async def run(ctx: CheckContext, params: MetadataProbeParams) -> CheckResult:
    host = ctx.hosts[0]
    res = await ctx.sources.read(
        host, "metadata_http_probe", timeout=ctx.timeout, path=params.path, max_time=params.max_time
    )
    if not res.ok:
        raise CloudtalesError(
            f"host {host.name}: `{res.command}` failed: {res.why}",
            host=host.name,
            command=res.command,
        )
    result = judge_probe(host.name, parse_probe(res.stdout, f"host {host.name}: metadata probe"))
    bad = None if result.outcome == "ok" else "the instance gets no metadata"
    ctx.emit(LiveLine(f"{host.name}:curl 169.254.169.254", result.summary, bad))
    return result


register(
    CheckType(
        name="metadata_probe",
        title="Fetch http://169.254.169.254/ from the instance (route + one GET)",
        outcomes=PROBE_OUTCOMES,
        params=MetadataProbeParams,
        run=run,
        facts=("route", "http_status", "curl_exit", "said"),
    )
)
