"""Check ``switch_log``: read the switches' logs for err-disabled ports.

Each switch is an inventory host reached over ssh like any other (its log file is
the host var ``switch_log``, default ``/var/log/messages``, as on Arista EOS's
bash or a syslog server). Only the tail is read (``tail -n``, bounded in bytes).
"""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.base import merge_outcomes
from engine.detectors.stp import SWITCH_LOG_OUTCOMES, detect_switch_log
from engine.errors import CloudtalesError
from engine.parsers.switch_log import parse_switch_log
from engine.remote.inventory import Host
from engine.results import CheckResult


class SwitchLogParams(CheckParams):
    log_var: str = "switch_log"
    default_path: str = "/var/log/messages"
    lines: int = 5000
    max_bytes: int = 262144


async def _one(ctx: CheckContext, host: Host, params: SwitchLogParams) -> CheckResult:
    path = str(host.vars.get(params.log_var) or params.default_path)
    res = await ctx.sources.read(
        host,
        "switch_log_tail",
        timeout=ctx.timeout,
        path=path,
        lines=params.lines,
        max_bytes=params.max_bytes,
    )
    if not res.ok:
        said = res.stderr.strip()[:200] or "no such file, or not readable"
        raise CloudtalesError(f"host {host.name}: cannot read {path}: {said}")
    events = parse_switch_log(res.stdout)
    for ev in events:
        if ev.kind in ("bpduguard", "errdisable", "recovery", "link_down", "link_up"):
            ctx.emit(
                LiveLine(
                    f"{host.name}:{path}",
                    ev.raw,
                    f"{ev.interface} err-disabled ({ev.cause})"
                    if ev.kind in ("bpduguard", "errdisable")
                    else None,
                )
            )
    return detect_switch_log(host.name, events)


async def run(ctx: CheckContext, params: SwitchLogParams) -> CheckResult:
    if not ctx.hosts:
        raise CloudtalesError("switch_log: no switches to read")
    outcomes = await gather_all(_one(ctx, h, params) for h in ctx.hosts)
    merged = merge_outcomes(outcomes, SWITCH_LOG_OUTCOMES)
    return merged


register(
    CheckType(
        name="switch_log",
        title="Switch logs: err-disabled ports (BPDU guard)",
        outcomes=SWITCH_LOG_OUTCOMES,
        params=SwitchLogParams,
        run=run,
        facts=("errdisabled_ports", "bpduguard_macs", "down_ports", "events"),
    )
)
