"""Hypervisor-side detectors: a guest's tap that is not drained, and known-bad qemu builds.

A tap device's TX direction is *towards the guest*: frames the bridge hands to the
tap wait in its queue until the VMM (qemu) reads them. When qemu stops reading, the
queue fills and the kernel drops: the tap's TX ``dropped`` counter climbs while the
bridge keeps forwarding. That is what LP #997978 looks like from the host.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.parsers.iplink import LinkInfo
from engine.parsers.qemu_version import VersionReport
from engine.results import CheckResult, Evidence, FactValue

TAP_OUTCOMES = ("drops_now", "drops_before", "no_drops")
QEMU_OUTCOMES = ("known_bad", "not_listed", "not_installed")

LP_997978 = "https://bugs.launchpad.net/ubuntu/+source/qemu-kvm/+bug/997978"


@dataclass(frozen=True)
class KnownBad:
    """A qemu build reported to lose a bridged guest's network under load."""

    what: str  # "package" or "binary"
    name: str  # package name, or "qemu-kvm" for a binary's version line
    version_prefix: str
    bug: str
    url: str
    note: str


KNOWN_BAD = (
    KnownBad(
        "package",
        "qemu-kvm",
        "1.0+noroms-0ubuntu",
        "LP #997978",
        LP_997978,
        "Ubuntu 12.04 qemu-kvm 1.0: KVM images lose connectivity with bridged network; "
        "take the patched package named in the bug report",
    ),
    KnownBad(
        "binary",
        "qemu-kvm",
        "1.0",
        "LP #997978",
        LP_997978,
        "qemu-kvm 1.0 (the version of the Ubuntu 12.04 reports): check the bug for the fix",
    ),
)


def _tx(link: LinkInfo, key: str) -> int:
    return int(link.stats.get(f"tx_{key}", 0))


def judge_tap(
    host: str, iface: str, before: LinkInfo, after: LinkInfo, seconds: float
) -> CheckResult:
    """Two samples of ``ip -s -j link`` on a guest's tap, ``seconds`` apart."""
    dropped, delta = _tx(after, "dropped"), _tx(after, "dropped") - _tx(before, "dropped")
    sent = _tx(after, "packets") - _tx(before, "packets")
    rate = (_tx(after, "bytes") - _tx(before, "bytes")) / seconds if seconds > 0 else 0.0
    facts: dict[str, FactValue] = {
        "tap": iface,
        "tx_dropped": dropped,
        "tx_dropped_delta": delta,
        "tx_packets_delta": sent,
        "to_guest_bytes_per_s": round(rate),
        # the load on the tap: what the bridge offered the guest, taken or dropped
        "offered_packets_per_s": round((sent + delta) / seconds) if seconds > 0 else 0,
        "sample_seconds": seconds,
        "master": after.master,
    }
    table = (
        f"{'':12}{'TX packets':>14}{'TX bytes':>16}{'TX dropped':>12}\n"
        f"{'before':12}{_tx(before, 'packets'):>14}{_tx(before, 'bytes'):>16}"
        f"{_tx(before, 'dropped'):>12}\n"
        f"{f'+{seconds:g}s':12}{_tx(after, 'packets'):>14}{_tx(after, 'bytes'):>16}"
        f"{_tx(after, 'dropped'):>12}"
    )
    evidence = (Evidence(f"ip -s link show {iface} (TX = towards the guest)", table, host),)
    if delta > 0:
        share = delta / (delta + sent) if delta + sent else 1.0
        return CheckResult(
            "drops_now",
            f"{host}: {iface} dropped {delta} frames for the guest in {seconds:g} s "
            f"({share:.0%} of the {facts['offered_packets_per_s']} frames/s offered, "
            f"{rate / 1e6:.1f} MB/s delivered): "
            "the guest is not taking frames off its tap",
            facts,
            evidence,
        )
    if dropped > 0:
        return CheckResult(
            "drops_before",
            f"{host}: {iface} has dropped {dropped} frames for the guest (none in the last "
            f"{seconds:g} s)",
            facts,
            evidence,
        )
    return CheckResult(
        "no_drops",
        f"{host}: {iface} delivers to the guest without drops ({rate / 1e6:.1f} MB/s)",
        facts,
        evidence,
    )


def _matches(entry: KnownBad, report: VersionReport) -> str | None:
    if entry.what == "package":
        version = report.packages.get(entry.name)
        if version and version.startswith(entry.version_prefix):
            return f"package {entry.name} {version}"
        return None
    for binary in report.binaries.values():
        if binary.qemu_kvm and binary.version == entry.version_prefix:
            return f"{binary.name}: {binary.line}"
    return None


def judge_qemu_versions(host: str, report: VersionReport) -> CheckResult:
    found = [f"{b.name}: {b.line}" for b in report.binaries.values()]
    found += [f"package {name} {version}" for name, version in report.packages.items()]
    hits = [(entry, m) for entry in KNOWN_BAD if (m := _matches(entry, report)) is not None]
    facts: dict[str, FactValue] = {
        "qemu": found,
        "kernel": report.kernel,
        "known_bad": [f"{m}: {e.bug}" for e, m in hits],
        "bug_links": sorted({e.url for e, _ in hits}),
    }
    table = "\n".join(
        f"{e.what} {e.name} {e.version_prefix}*: {e.bug} {e.url} - {e.note}" for e in KNOWN_BAD
    )
    evidence = (
        Evidence(f"qemu on {host}", "\n".join(found) or "no qemu binary or package found", host),
        Evidence("known-bad versions", table),
    )
    kernel = f" (kernel {report.kernel})" if report.kernel else ""
    if hits:
        entry, what = hits[0]
        return CheckResult(
            "known_bad",
            f"{host}: {what} is known to lose bridged networking under load ({entry.bug})",
            facts,
            evidence,
        )
    if not report.has_qemu:
        return CheckResult(
            "not_installed",
            f"{host}: no qemu/kvm binary or package found{kernel}: versions cannot be compared",
            facts,
            evidence,
        )
    return CheckResult(
        "not_listed",
        f"{host}: {found[0]} is not in the known-bad table{kernel}",
        facts,
        evidence,
    )
