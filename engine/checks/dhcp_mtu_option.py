"""Check ``dhcp_mtu_option``: does the tenant network's dnsmasq advertise the MTU (option 26)?

Reads each dnsmasq command line in the host's network namespace (``dnsmasq_processes``),
then the ``--conf-file``s they name (neutron's ``dnsmasq_config_file``) plus any ``paths``.
"""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine, read_ok
from engine.checks.lease_time import parse_processes
from engine.checks.registry import register
from engine.detectors.overlay import MTU_OPTION_OUTCOMES, judge_mtu_option, mtu_options
from engine.results import CheckResult


class DhcpMtuParams(CheckParams):
    paths: list[str] = []  # more dnsmasq config files to read


async def run(ctx: CheckContext, params: DhcpMtuParams) -> CheckResult:
    host = ctx.hosts[0]
    res = await read_ok(ctx, host, "dnsmasq_processes")  # ok and empty: none runs
    procs = parse_processes(res.stdout)
    files: list[str] = list(params.paths)
    for pid, argv in procs.items():
        ctx.emit(LiveLine(f"{host.name}:dnsmasq", f"pid {pid}: {' '.join(argv[1:6])} ..."))
        files += [a.partition("=")[2] for a in argv if a.startswith("--conf-file=")]
    lines: list[tuple[str, str]] = []
    read: list[str] = []
    for path in dict.fromkeys(f for f in files if f):
        conf = await ctx.sources.read(host, "dnsmasq_config", timeout=ctx.timeout, path=path)
        if not conf.ok:
            ctx.emit(LiveLine(f"{host.name}:dnsmasq", f"{path}: not readable", "missing"))
            continue
        read.append(path)
        lines += [(f"{path}:{n}", ln) for n, ln in enumerate(conf.stdout.splitlines(), 1)]
    options = mtu_options(procs.values(), lines)
    result = judge_mtu_option(host.name, len(procs), options, read)
    bad = "the MTU is not advertised" if result.outcome == "not_advertised" else None
    ctx.emit(LiveLine(f"{host.name}:dnsmasq", result.summary, bad))
    return result


register(
    CheckType(
        name="dhcp_mtu_option",
        title="DHCP option 26 (interface MTU) in dnsmasq's command line and configuration",
        outcomes=MTU_OPTION_OUTCOMES,
        params=DhcpMtuParams,
        run=run,
        facts=("dnsmasq_processes", "advertised_mtu", "config_files", "options"),
    )
)
