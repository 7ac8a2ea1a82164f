"""Check ``dhcp_lease_time``: the lease dnsmasq grants, from its command line and config.

"At the time, OpenStack, by default, set DHCP leases for one minute (it's now two
minutes)": nova-network passed ``dhcp_lease_time`` to dnsmasq on its command line,
so the check reads each running dnsmasq's command line (``/proc/PID/cmdline``, only
processes in the host's own network namespace), then the ``--conf-file``s it names
plus any ``paths`` given, each bounded to 256 KiB.
"""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine, read_ok
from engine.checks.registry import register
from engine.detectors.dhcp import LEASE_OUTCOMES, judge_lease
from engine.parsers.dnsmasq_conf import (
    DnsmasqConfig,
    merge_all,
    parse_dnsmasq_args,
    parse_dnsmasq_conf,
)
from engine.remote.inventory import Host
from engine.results import CheckResult
from engine.sources.services import DNSMASQ_PROCESSES

MAX_CONF_BYTES = 256 * 1024
PROCESSES = DNSMASQ_PROCESSES  # kept for labs/sosreport/plans.py


class LeaseTimeParams(CheckParams):
    short_seconds: int = 3600  # at most this: every instance renews constantly
    paths: list[str] = []  # more dnsmasq config files to read


def parse_processes(text: str) -> dict[int, list[str]]:
    """``proc PID`` / ``arg ARG`` lines -> pid -> argv."""
    procs: dict[int, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("proc ") and line[5:].strip().isdigit():
            current = procs.setdefault(int(line[5:]), [])
        elif line.startswith("arg ") and current is not None:
            current.append(line[4:])
    return procs


async def _read(ctx: CheckContext, host: Host, path: str) -> str | None:
    res = await ctx.sources.read(host, "dnsmasq_config", timeout=ctx.timeout, path=path)
    return res.stdout if res.ok else None


async def run(ctx: CheckContext, params: LeaseTimeParams) -> CheckResult:
    host = ctx.hosts[0]
    res = await read_ok(ctx, host, "dnsmasq_processes")  # ok and empty: none runs
    configs: list[DnsmasqConfig] = []
    for pid, argv in parse_processes(res.stdout).items():
        cfg = parse_dnsmasq_args(argv, f"dnsmasq pid {pid} command line")
        configs.append(cfg)
        ranges = ", ".join(r.text for r in cfg.ranges) or "no dhcp-range"
        ctx.emit(LiveLine(f"{host.name}:dnsmasq", f"pid {pid}: {ranges}"))
    files = [f for c in configs for f in c.conf_files] + list(params.paths)
    for path in dict.fromkeys(files):
        text = await _read(ctx, host, path)
        if text is None:
            ctx.emit(LiveLine(f"{host.name}:dnsmasq", f"{path}: not readable", f"{path} missing"))
            continue
        configs.append(parse_dnsmasq_conf(text, f"{host.name}:{path}"))
    merged = merge_all(configs)
    if not configs:
        ctx.emit(LiveLine(f"{host.name}:dnsmasq", "no dnsmasq running here", "no dnsmasq"))
    out = judge_lease(host.name, merged, params.short_seconds)
    return out


register(
    CheckType(
        name="dhcp_lease_time",
        title="dnsmasq lease time (command line and configuration)",
        outcomes=LEASE_OUTCOMES,
        params=LeaseTimeParams,
        run=run,
        facts=("lease_seconds", "renew_seconds", "ranges", "sources"),
    )
)
