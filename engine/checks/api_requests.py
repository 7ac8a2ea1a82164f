"""Check ``console_output_requests``: how often each instance's console output is fetched.

Reads at most ``tail_bytes`` of the end of each nova-api log (``tail -c``): the
rate is measured over the time span that window covers.
"""

from __future__ import annotations

from pydantic import Field

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.console import CONSOLE_RATE_OUTCOMES, judge_console_requests
from engine.errors import CloudtalesError
from engine.parsers.api_access_log import ApiLog, parse_api_log
from engine.parsers.find_sizes import human_bytes
from engine.remote.inventory import Host
from engine.results import CheckResult

MAX_LIVE_LINES = 200


class ApiRequestsParams(CheckParams):
    log: str = "/var/log/nova/nova-api.log"
    log_var: str = Field(
        default="nova_api_log", description="a host var that overrides log on that host"
    )
    tail_bytes: int = Field(default=4 * 1024 * 1024, gt=0, le=64 * 1024 * 1024)
    per_minute: float = Field(default=6.0, gt=0)
    min_requests: int = Field(default=10, gt=0)


def _path(host: Host, params: ApiRequestsParams) -> str:
    return str(host.vars.get(params.log_var) or params.log)


async def _read(ctx: CheckContext, host: Host, params: ApiRequestsParams) -> ApiLog:
    path = _path(host, params)
    res = await ctx.sources.read(
        host, "nova_compute_log_tail", timeout=ctx.timeout, path=path, max_bytes=params.tail_bytes
    )
    if not res.ok:
        raise CloudtalesError(f"host {host.name}: cannot read {path}: {res.why}")
    truncated = len(res.stdout.encode()) >= params.tail_bytes
    log = parse_api_log(res.stdout, f"{host.name}:{path}", truncated=truncated)
    shown = 0
    for req in log.requests:
        if not req.console or shown >= MAX_LIVE_LINES:
            continue
        shown += 1
        ctx.emit(
            LiveLine(
                f"{host.name}:nova-api",
                f"{req.when:%H:%M:%S} {req.method} servers/{req.instance}/action "
                f"{req.status} {human_bytes(req.length or 0)} in {req.seconds:.1f} s",
                "console output over 1 MiB" if (req.length or 0) > 1 << 20 else None,
            )
        )
    return log


async def run(ctx: CheckContext, params: ApiRequestsParams) -> CheckResult:
    logs = await gather_all(_read(ctx, h, params) for h in ctx.hosts)
    out = judge_console_requests(logs, params.per_minute, params.min_requests)
    return out


register(
    CheckType(
        name="console_output_requests",
        title="os-getConsoleOutput requests per instance (nova-api log, bounded tail)",
        outcomes=CONSOLE_RATE_OUTCOMES,
        params=ApiRequestsParams,
        run=run,
        facts=(
            "requests",
            "console_requests",
            "window_seconds",
            "debug_bodies",
            "boot_requests",
            "boot_median_seconds",
            "top_instance",
            "top_instance_requests",
            "top_instance_per_minute",
            "top_instance_bytes",
            "top_instance_size",
            "instances",
        ),
    )
)
