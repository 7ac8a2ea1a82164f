"""Check ``compute_tcp_probe``: a TCP connect from the host the API named to TARGET:PORT.

``tcp_port_probe`` with its host chosen by a fact (``{facts.cs-services.down_host}``),
mapped to the inventory: open, refused, filtered (no answer) or unreachable.
"""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.registry import register
from engine.detectors.secgroup import CONNECT_OUTCOMES, judge_connect, parse_connect
from engine.errors import CloudtalesError
from engine.results import CheckResult
from engine.sources.api_hosts import inventory_host


class ComputeTcpProbeParams(CheckParams):
    host: str  # the OpenStack host name
    target: str
    port: int = 5672
    seconds: int = 3


async def run(ctx: CheckContext, params: ComputeTcpProbeParams) -> CheckResult:
    host = inventory_host(ctx.inventory, params.host)
    res = await ctx.sources.read(
        host,
        "tcp_connect_probe",
        timeout=ctx.timeout,
        target=params.target,
        port=params.port,
        seconds=params.seconds,
    )
    if not res.ok:
        raise CloudtalesError(
            f"host {host.name}: `{res.command}` failed: {res.why}",
            host=host.name,
            command=res.command,
        )
    code, said = parse_connect(res.stdout, f"host {host.name}: connect probe")
    result = judge_connect(host.name, params.target, params.port, code, said)
    bad = None if result.outcome == "open" else f"tcp/{params.port} does not connect"
    ctx.emit(LiveLine(f"{host.name}:connect", result.summary, bad))
    return result


register(
    CheckType(
        name="compute_tcp_probe",
        title="TCP connect from the host the API named (open, refused, filtered)",
        outcomes=CONNECT_OUTCOMES,
        params=ComputeTcpProbeParams,
        run=run,
        facts=("target", "port", "exit_status"),
    )
)
