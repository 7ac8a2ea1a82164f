"""Check ``dhcp_lease_time``: the lease dnsmasq grants, from its command line and config.

"At the time, OpenStack, by default, set DHCP leases for one minute (it's now two
minutes)": nova-network passed ``dhcp_lease_time`` to dnsmasq on its command line,
so the check reads each running dnsmasq's command line (``/proc/PID/cmdline``, only
processes in the host's own network namespace), then the ``--conf-file``s it names
plus any ``paths`` given, each bounded to 256 KiB.
"""

from __future__ import annotations

import shlex

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
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

MAX_CONF_BYTES = 256 * 1024
PROCESSES = (
    "self=$(readlink /proc/self/ns/net); "
    "for p in $(pgrep -x dnsmasq 2>/dev/null); do "
    '[ "$(readlink /proc/$p/ns/net 2>/dev/null)" = "$self" ] || continue; '
    "echo \"proc $p\"; tr '\\0' '\\n' < /proc/$p/cmdline 2>/dev/null | sed 's/^/arg /'; "
    "done"
)


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
    res = await ctx.runner.run(
        host, f"head -c {MAX_CONF_BYTES} {shlex.quote(path)}", timeout=ctx.timeout
    )
    return res.stdout if res.ok else None


async def run(ctx: CheckContext, params: LeaseTimeParams) -> CheckResult:
    host = ctx.hosts[0]
    res = await ctx.runner.run(host, PROCESSES, timeout=ctx.timeout)
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
