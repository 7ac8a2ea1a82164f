"""Check ``clock_offset``: how far the down compute's clock is from the controller's.

Reads the ``clock`` source a few times on the controller (the check's host) and on the
compute (``host``: the OpenStack host name from a fact, mapped to the inventory), then
judges the offset against ``service_down_time`` from the controller's nova.conf (the
host var ``nova_conf``, else ``/etc/nova/nova.conf``). A nova.conf that cannot be read
or does not set it means nova's default, 60 s, and the summary says it was assumed. The
estimate and its bound are in ``engine.detectors.clock``.
"""

from __future__ import annotations

from pydantic import Field

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine, read_ok
from engine.checks.registry import register
from engine.detectors.clock import (
    CLOCK_OUTCOMES,
    DEFAULT_SERVICE_DOWN_TIME,
    ClockSample,
    ServiceDownTime,
    parse_clock,
    service_down_time,
)
from engine.detectors.clock import judge_clock as judge
from engine.errors import CloudtalesError
from engine.parsers.nova_conf import parse_nova_conf
from engine.remote.inventory import Host
from engine.results import CheckResult
from engine.sources.api_hosts import inventory_host

DEFAULT_CONF = "/etc/nova/nova.conf"


class ClockOffsetParams(CheckParams):
    host: str  # the OpenStack host name of the compute
    samples: int = Field(default=3, ge=1, le=10)


async def _sample(ctx: CheckContext, host: Host) -> ClockSample:
    res = await read_ok(ctx, host, "clock")
    return parse_clock(res.stdout, host.name)


async def _down_time(ctx: CheckContext, controller: Host) -> ServiceDownTime:
    path = str(controller.vars.get("nova_conf") or DEFAULT_CONF)
    where = f"{controller.name}:{path}"
    res = await ctx.sources.read(controller, "nova_conf", timeout=ctx.timeout, path=path)
    if not res.ok:
        return ServiceDownTime(
            DEFAULT_SERVICE_DOWN_TIME, f"{where} not readable ({res.why[:120]})", assumed=True
        )
    conf = parse_nova_conf(res.stdout, where)
    return service_down_time(conf.get("DEFAULT", "service_down_time"), where)


async def run(ctx: CheckContext, params: ClockOffsetParams) -> CheckResult:
    if not ctx.hosts:
        raise CloudtalesError("clock_offset: no controller to compare with")
    controller = ctx.hosts[0]
    compute = inventory_host(ctx.inventory, params.host)
    down_time = await _down_time(ctx, controller)
    ref: list[ClockSample] = []
    mine: list[ClockSample] = []
    for _ in range(params.samples):  # alternate, so both see the same moments
        ref.append(await _sample(ctx, controller))
        mine.append(await _sample(ctx, compute))
    result = judge(mine, ref, down_time)
    bad = None if result.outcome == "in_sync" else f"clock {result.outcome}"
    ctx.emit(LiveLine(f"{compute.name}:clock", result.summary, bad))
    return result


register(
    CheckType(
        name="clock_offset",
        title="Clock offset of a compute from the controller (round-trip bounded)",
        outcomes=CLOCK_OUTCOMES,
        params=ClockOffsetParams,
        run=run,
        facts=(
            "host",
            "reference",
            "offset",
            "offset_seconds",
            "bound_seconds",
            "service_down_time",
            "service_down_time_from",
        ),
    )
)
