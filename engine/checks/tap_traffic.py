"""Check ``tap_traffic``: is the instance's tap drained? Two ``ip -s -j link`` samples.

On the compute node, the tap's TX counters count what the bridge hands to the guest;
``dropped`` counts frames the kernel threw away because the VMM did not take them.
One remote command takes both samples ``interval`` seconds apart.
"""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.registry import register
from engine.detectors.hypervisor import TAP_OUTCOMES, judge_tap
from engine.errors import CloudtalesError
from engine.parsers.iplink import parse_ip_link
from engine.results import CheckResult
from engine.sources.network import SAMPLE_SEPARATOR

SEPARATOR = SAMPLE_SEPARATOR


class TapTrafficParams(CheckParams):
    iface: str | None = None
    iface_var: str = "tap_iface"
    interval: float = 2.0


async def run(ctx: CheckContext, params: TapTrafficParams) -> CheckResult:
    host = ctx.hosts[0]
    iface = params.iface or host.vars.get(params.iface_var)
    if not iface:
        raise CloudtalesError(f"host {host.name}: no iface given and no {params.iface_var} var")
    res = await ctx.sources.read(
        host, "link_stats_sample", ctx.timeout, iface=str(iface), interval=params.interval
    )
    before_text, sep, after_text = res.stdout.partition(SEPARATOR)
    if not res.ok or not sep:
        said = res.stderr.strip().splitlines()[:1] or [f"exit status {res.exit_status}"]
        raise CloudtalesError(f"host {host.name}: `ip -s link show {iface}` failed: {said[0]}")
    source = f"host {host.name}: ip -s -j link show {iface}"
    before, after = parse_ip_link(before_text, source), parse_ip_link(after_text, source)
    if not before or not after:
        raise CloudtalesError(f"{source}: no such link")
    out = judge_tap(host.name, str(iface), before[0], after[0], params.interval)
    ctx.emit(
        LiveLine(
            f"{host.name}:ip -s link",
            f"{iface}: TX dropped {out.facts['tx_dropped']} "
            f"(+{out.facts['tx_dropped_delta']} in {params.interval:g} s)",
            "frames for the guest dropped" if out.outcome == "drops_now" else None,
        )
    )
    return out


register(
    CheckType(
        name="tap_traffic",
        title="Traffic and drops on the instance's tap (ip -s -j link, two samples)",
        outcomes=TAP_OUTCOMES,
        params=TapTrafficParams,
        run=run,
        facts=(
            "tap",
            "tx_dropped",
            "tx_dropped_delta",
            "tx_packets_delta",
            "to_guest_bytes_per_s",
            "offered_packets_per_s",
            "sample_seconds",
            "master",
        ),
    )
)
