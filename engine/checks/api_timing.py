"""Check ``api_timing``: the slowest nova-api actions, from the tail of its access log.

Reads at most ``max_bytes`` from the end of the log (``tail -c``: a busy nova-api log
runs to gigabytes), keeps the access lines on the host (``grep``), parses them and
ranks actions by their slowest request. Read-only; one remote command per host.
"""

from __future__ import annotations

from pydantic import Field

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.api_timing import API_TIMING_OUTCOMES, classify_api_timing
from engine.detectors.base import worst_of
from engine.errors import CloudtalesError
from engine.parsers.nova_api_log import parse_api_log, split_tail
from engine.results import CheckResult


class ApiTimingParams(CheckParams):
    path: str = "/var/log/nova/nova-api.log"
    max_bytes: int = Field(default=8 << 20, ge=4096, le=256 << 20)
    slow_seconds: float = Field(default=30.0, gt=0)


async def run(ctx: CheckContext, params: ApiTimingParams) -> CheckResult:
    async def one(name: str) -> CheckResult:
        host = ctx.inventory.host(name)
        res = await ctx.sources.read(
            host,
            "nova_api_access_lines",
            timeout=ctx.timeout,
            path=params.path,
            max_bytes=params.max_bytes,
        )
        if not res.ok:
            said = res.stderr.strip().splitlines()[-1:] or [f"exit status {res.exit_status}"]
            reason = said[0].rsplit(": ", 1)[-1]
            raise CloudtalesError(f"host {name}: cannot read {params.path}: {reason}")
        size, text = split_tail(name, params.path, res.stdout)
        log = parse_api_log(text)
        outcome = classify_api_timing(
            name, f"{name}:{params.path}", log, params.slow_seconds, size > params.max_bytes
        )
        for req in sorted(log.requests, key=lambda r: -r.seconds)[:5]:
            slow = req.seconds >= params.slow_seconds
            ctx.emit(
                LiveLine(
                    f"{name}:nova-api.log",
                    req.one_line(),
                    f"over {params.slow_seconds:g} s" if slow else None,
                )
            )
        return outcome

    outcomes = await gather_all(one(h.name) for h in ctx.hosts)
    if not outcomes:
        raise CloudtalesError("api_timing: no hosts to read a nova-api log from")
    return worst_of(outcomes, API_TIMING_OUTCOMES)


register(
    CheckType(
        name="api_timing",
        title="Slowest nova-api actions (access log)",
        outcomes=API_TIMING_OUTCOMES,
        params=ApiTimingParams,
        run=run,
        facts=(
            "requests",
            "slow_requests",
            "slowest_action",
            "slowest_seconds",
            "top_actions",
            "window",
            "log",
        ),
    )
)
