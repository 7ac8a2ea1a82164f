"""Check ``tcp_port_probe``: does a TCP connect to TARGET:PORT get an answer?

One bounded connect from the probing host (bash's /dev/tcp under ``timeout``): open,
refused (an RST: the host answers, nothing listens), filtered (no answer at all: a
firewall dropped the SYN or the reply) or unreachable. The probing host is the check's
own, or ``host``: an OpenStack host name from a fact (``{facts.cs-services.down_host}``),
mapped to the inventory.
"""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine, read_ok
from engine.checks.registry import register
from engine.detectors.secgroup import CONNECT_OUTCOMES, judge_connect, parse_connect
from engine.results import CheckResult
from engine.sources.api_hosts import inventory_host


class TcpPortProbeParams(CheckParams):
    target: str
    host: str = ""  # an OpenStack host name (the API's), instead of the check's hosts
    port: int = 22
    seconds: int = 3


async def run(ctx: CheckContext, params: TcpPortProbeParams) -> CheckResult:
    host = inventory_host(ctx.inventory, params.host) if params.host else ctx.hosts[0]
    res = await read_ok(
        ctx, host, "tcp_connect_probe", target=params.target, port=params.port,
        seconds=params.seconds,
    )  # fmt: skip
    code, said = parse_connect(res.stdout, f"host {host.name}: connect probe")
    result = judge_connect(host.name, params.target, params.port, code, said)
    bad = None if result.outcome == "open" else f"tcp/{params.port} does not connect"
    ctx.emit(LiveLine(f"{host.name}:connect", result.summary, bad))
    return result


register(
    CheckType(
        name="tcp_port_probe",
        title="TCP connect to a port (open, refused, filtered)",
        outcomes=CONNECT_OUTCOMES,
        params=TcpPortProbeParams,
        run=run,
        facts=("target", "port", "exit_status"),
    )
)
