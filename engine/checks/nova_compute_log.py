"""Check ``nova_compute_log``: the end of nova-compute's log on the host that is down.

The last failure class in a bounded tail wins: AMQP authentication refused, RabbitMQ
unreachable or timing out, database errors, or nothing of the kind (``clean``). The
path is the host's ``nova_compute_log`` var, else nova's default.
"""

from __future__ import annotations

from pydantic import Field

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.registry import register
from engine.detectors.compute_service import LOG_OUTCOMES, judge_log
from engine.errors import CloudtalesError
from engine.parsers.os_api import scan_compute_log
from engine.remote.host_vars import problem
from engine.results import CheckResult
from engine.sources.api_hosts import inventory_host

DEFAULT_LOG = "/var/log/nova/nova-compute.log"


class NovaComputeLogParams(CheckParams):
    host: str  # the OpenStack host name
    max_bytes: int = Field(default=1 << 20, gt=0, le=16 << 20)


async def run(ctx: CheckContext, params: NovaComputeLogParams) -> CheckResult:
    host = inventory_host(ctx.inventory, params.host)
    path = str(host.vars.get("nova_compute_log") or DEFAULT_LOG)
    if problem("nova_compute_log", path):
        raise CloudtalesError(f"host {host.name}: nova_compute_log {path!r} is not a path")
    res = await ctx.sources.read(
        host, "nova_compute_log_tail", timeout=ctx.timeout, path=path, max_bytes=params.max_bytes
    )
    if not res.ok:
        raise CloudtalesError(
            f"host {host.name}: `{res.command}` failed: {res.why}",
            host=host.name,
            command=res.command,
        )
    result = judge_log(host.name, path, scan_compute_log(res.stdout))
    bad = None if result.outcome == "clean" else result.outcome
    ctx.emit(LiveLine(f"{host.name}:nova-compute.log", result.summary, bad))
    return result


register(
    CheckType(
        name="nova_compute_log",
        title="nova-compute's log: AMQP auth, RabbitMQ unreachable, database errors",
        outcomes=LOG_OUTCOMES,
        params=NovaComputeLogParams,
        run=run,
        facts=("host", "lines", "stopped"),
    )
)
