"""Check ``path_mtu``: a ``ping -M do -s`` binary search, run on the probing host as one command."""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.registry import register
from engine.detectors.mtu import PMTU_OUTCOMES, judge_path_mtu
from engine.parsers.ping import ICMP_IP_OVERHEAD, Sweep, parse_probe_line, sweep_script
from engine.results import CheckResult


class PathMtuParams(CheckParams):
    target: str
    expected_mtu: int = 1500
    wait: float = 1.0


async def run(ctx: CheckContext, params: PathMtuParams) -> CheckResult:
    host = ctx.hosts[0]
    script = sweep_script(params.target, params.expected_mtu - ICMP_IP_OVERHEAD, wait=params.wait)
    probes: list[tuple[int, bool]] = []
    source = f"{host.name}:ping"
    async for line in ctx.runner.stream_lines(host, script, timeout=ctx.timeout):
        probe = parse_probe_line(line)
        if probe is None:
            continue
        probes.append(probe)
        size, ok = probe
        ctx.emit(
            LiveLine(
                source,
                f"ping -M do -s {size} {params.target}: {'reply' if ok else 'no reply'}",
                None if ok else f"{size + ICMP_IP_OVERHEAD}-byte packet lost",
            )
        )
    out = judge_path_mtu(host.name, params.target, Sweep(tuple(probes)), params.expected_mtu)
    return out


register(
    CheckType(
        name="path_mtu",
        title="Path-MTU probe (ping -M do -s, binary search)",
        outcomes=PMTU_OUTCOMES,
        params=PathMtuParams,
        run=run,
        facts=("path_mtu", "max_payload", "expected_mtu", "shortfall"),
    )
)
