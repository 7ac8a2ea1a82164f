"""Check ``qemu_versions``: qemu/KVM and kernel versions against known-bad builds.

"So it was a qemu/kvm bug." One read-only command: each qemu binary's
``--version``, the qemu packages dpkg has installed, ``uname -r``. A host with no
qemu at all is reported as such (``not_installed``), not guessed.
"""

from __future__ import annotations

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.registry import register
from engine.detectors.hypervisor import QEMU_OUTCOMES, judge_qemu_versions
from engine.parsers.qemu_version import parse_versions
from engine.results import CheckResult


class QemuVersionsParams(CheckParams):
    pass


async def run(ctx: CheckContext, params: QemuVersionsParams) -> CheckResult:
    host = ctx.hosts[0]
    res = await ctx.sources.read(host, "qemu_versions", timeout=ctx.timeout)
    report = parse_versions(res.stdout)
    for b in report.binaries.values():
        ctx.emit(LiveLine(f"{host.name}:qemu", f"{b.name}: {b.line}"))
    for name, version in report.packages.items():
        ctx.emit(LiveLine(f"{host.name}:dpkg", f"{name} {version}"))
    if not report.has_qemu:
        ctx.emit(LiveLine(f"{host.name}:qemu", "no qemu binary or package", "no qemu found"))
    out = judge_qemu_versions(host.name, report)
    return out


register(
    CheckType(
        name="qemu_versions",
        title="qemu/KVM and kernel versions vs. known-bad builds",
        outcomes=QEMU_OUTCOMES,
        params=QemuVersionsParams,
        run=run,
        facts=("qemu", "kernel", "known_bad", "bug_links"),
    )
)
