"""Check ``compute_services``: nova's own view of its compute services (the ``api`` source).

State (``up``/``down``, nova's judgement against ``service_down_time``), status and the
last heartbeat's age, from ``compute_services`` asked of the cloud the controller's
``os_cloud`` names (or ``--cloud``). ``service_down`` names the host down longest.
"""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.registry import register
from engine.detectors.compute_service import SERVICE_OUTCOMES, judge_services
from engine.parsers.os_api import parse_compute_services
from engine.results import CheckResult


class ComputeServicesParams(CheckParams):
    pass


async def run(ctx: CheckContext, params: ComputeServicesParams) -> CheckResult:
    host = ctx.hosts[0]
    res = await ctx.sources.read(host, "compute_services", timeout=ctx.timeout)
    answer, services = parse_compute_services(res.stdout)
    result = judge_services(answer, services)
    for s in services:
        age = "never" if s.heartbeat_age is None else f"{s.heartbeat_age:.0f} s"
        bad = None if s.state == "up" else "service down"
        ctx.emit(LiveLine(f"api:{answer.cloud}", f"{s.host} {s.state} {s.status} {age}", bad))
    return result


register(
    CheckType(
        name="compute_services",
        title="nova's compute services: state and last heartbeat (OpenStack API)",
        outcomes=SERVICE_OUTCOMES,
        params=ComputeServicesParams,
        run=run,
        facts=(
            "cloud",
            "hosts",
            "down_hosts",
            "down_host",
            "heartbeat",
            "heartbeat_age",
            "status",
            "forced_down",
        ),
    )
)
