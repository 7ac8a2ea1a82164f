"""Disk detectors: libvirt domains and their file disks, and each disk's backing chain.

Pure functions over parsed data (libvirt domain XML, ``qemu-img info`` and ``stat``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.parsers.libvirt_xml import Domain
from engine.results import CheckResult, Evidence, FactValue

LIBVIRT_OUTCOMES = ("file_disks", "no_file_disks")
BACKING_OUTCOMES = ("backing_missing", "disk_missing", "chain_intact")

STATE_NAMES = {
    0: "no state",
    1: "running",
    2: "blocked",
    3: "paused",
    4: "shutting down",
    5: "shut off",
    6: "crashed",
    7: "suspended",
}


# ------------------------------------------------------------------ libvirt domains


@dataclass(frozen=True)
class HostDomains:
    host: str
    uri: str
    domains: tuple[tuple[Domain, int], ...]  # (domain, libvirt state)


def disk_records(views: Sequence[HostDomains]) -> list[dict[str, object]]:
    """One plain record per file-backed disk: what the backing-chain check needs."""
    return [
        {
            "host": v.host,
            "domain": dom.name,
            "uuid": dom.uuid,
            "state": STATE_NAMES.get(state, str(state)),
            "target": disk.target,
            "path": disk.source,
            "format": disk.format,
            "backing": list(disk.backing_paths),
            "image_id": dom.image_id,
        }
        for v in views
        for dom, state in v.domains
        for disk in dom.file_disks
    ]


def summarize_domains(views: Sequence[HostDomains]) -> CheckResult:
    records = disk_records(views)
    parts, evidence = [], []
    for v in views:
        off = sum(1 for _, state in v.domains if state != 1)
        disks = sum(len(d.file_disks) for d, _ in v.domains)
        parts.append(
            f"{v.host}: {len(v.domains)} domain(s)"
            + (f" ({off} not running)" if off else "")
            + f", {disks} file disk(s)"
        )
        lines = []
        for dom, state in v.domains:
            image = f" [image {dom.image_id}]" if dom.image_id else ""
            lines.append(f"{dom.name} {dom.uuid} ({STATE_NAMES.get(state, state)}){image}")
            for disk in dom.file_disks:
                chain = " <- ".join((disk.source or "?", *disk.backing_paths))
                lines.append(f"  {disk.target}: {chain}")
        evidence.append(Evidence(f"libvirt {v.uri}", "\n".join(lines) or "no domains", v.host))
    facts: dict[str, FactValue] = {
        "domains": [
            f"{v.host}: {d.name} ({STATE_NAMES.get(s, s)})" for v in views for d, s in v.domains
        ],
        "disks": records,
    }
    key = "file_disks" if records else "no_file_disks"
    return CheckResult(key, "; ".join(parts), facts, tuple(evidence))


# ------------------------------------------------------------------ backing chains


@dataclass(frozen=True)
class DiskChain:
    host: str
    domain: str
    target: str
    path: str
    layers: tuple[str, ...]  # the disk first, then each backing file (qemu-img + libvirt)
    existing: frozenset[str]
    image_id: str | None = None
    qemu_error: str | None = None  # what `qemu-img info --backing-chain` said when it failed

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(p for p in self.layers if p not in self.existing)

    @property
    def label(self) -> str:
        return f"{self.host}: {self.domain} {self.target}"

    def render(self) -> str:
        return " <- ".join(p + ("" if p in self.existing else " (MISSING)") for p in self.layers)


def classify_backing_chains(chains: Sequence[DiskChain]) -> CheckResult:
    # a chain whose disk itself is gone says nothing about its backing files
    disk_gone = [c for c in chains if c.path in c.missing]
    backing_gone = [c for c in chains if c.missing and c.path not in c.missing]
    missing_files = list(dict.fromkeys(p for c in backing_gone for p in c.missing if p != c.path))
    facts = {
        "missing_files": missing_files,
        "missing_names": [p.rsplit("/", 1)[-1] for p in missing_files],
        "affected": [f"{c.label} -> {', '.join(c.missing)}" for c in backing_gone + disk_gone],
        "chains": [f"{c.label}: {c.render()}" for c in chains],
        "image_ids": [
            f"{p.rsplit('/', 1)[-1]}: image {c.image_id}"
            for c in backing_gone
            for p in c.missing
            if c.image_id and p != c.path
        ],
    }
    evidence = tuple(
        Evidence(
            f"{c.label}: backing chain",
            c.render() + (f"\n{c.qemu_error}" if c.qemu_error else ""),
            c.host,
        )
        for c in (backing_gone + disk_gone or list(chains))
    )
    if backing_gone:
        names = ", ".join(missing_files)
        who = ", ".join(c.label for c in backing_gone)
        return CheckResult(
            "backing_missing", f"backing file {names} is missing ({who})", facts, evidence
        )
    if disk_gone:
        return CheckResult(
            "disk_missing",
            "disk file missing: " + ", ".join(f"{c.label} {c.path}" for c in disk_gone),
            facts,
            evidence,
        )
    return CheckResult(
        "chain_intact",
        f"all {len(chains)} disk chain(s) complete: every backing file exists",
        facts,
        evidence,
    )
