"""Check ``nova_compute_process``: does nova-compute run on the host nova says is down?

The host comes from the API (``{facts.<services check>.down_host}``), mapped to the
inventory (``engine/checks/api_hosts.py``); ``ps`` lists its nova-compute processes.
"""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.registry import register
from engine.detectors.compute_service import PROCESS_OUTCOMES, judge_process
from engine.errors import CloudtalesError
from engine.parsers.os_api import parse_processes
from engine.results import CheckResult
from engine.sources.api_hosts import inventory_host


class NovaComputeProcessParams(CheckParams):
    host: str  # the OpenStack host name


async def run(ctx: CheckContext, params: NovaComputeProcessParams) -> CheckResult:
    host = inventory_host(ctx.inventory, params.host)
    res = await ctx.sources.read(host, "nova_compute_processes", timeout=ctx.timeout)
    if not res.ok:
        raise CloudtalesError(
            f"host {host.name}: `{res.command}` failed: {res.why}",
            host=host.name,
            command=res.command,
        )
    result = judge_process(host.name, parse_processes(res.stdout))
    bad = None if result.outcome == "running" else "not running"
    ctx.emit(LiveLine(f"{host.name}:ps", result.summary, bad))
    return result


register(
    CheckType(
        name="nova_compute_process",
        title="Is nova-compute running on the host (ps over SSH)",
        outcomes=PROCESS_OUTCOMES,
        params=NovaComputeProcessParams,
        run=run,
        facts=("host", "pids", "uptime_seconds"),
    )
)
