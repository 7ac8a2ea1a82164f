"""Which qemu/KVM a compute node runs: binaries, packages and the kernel, in one command.

``versions_command()`` prints ``bin NAME: FIRST LINE OF --version`` for each qemu
binary found, ``pkg NAME|VERSION|STATUS`` for each installed package dpkg knows, and
``kernel RELEASE``. Binaries or packages that are absent simply do not appear: on a
host without qemu the report is empty, an honest answer.

>>> r = parse_versions("bin kvm: QEMU emulator version 1.0 (qemu-kvm-1.0), Copyright\\n"
...     "pkg qemu-kvm|1.0+noroms-0ubuntu13|ii \\nkernel 3.2.0-29-generic\\n")
>>> r.binaries["kvm"].version, r.packages, r.kernel
('1.0', {'qemu-kvm': '1.0+noroms-0ubuntu13'}, '3.2.0-29-generic')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

BINARIES = ("qemu-system-x86_64", "kvm", "qemu-kvm", "/usr/libexec/qemu-kvm")
PACKAGES = ("qemu-kvm", "qemu-system-x86", "qemu", "kvm", "qemu-kvm-ev")
_VERSION = re.compile(r"version\s+([0-9][\w.+~:-]*)", re.IGNORECASE)


def versions_command() -> str:
    bins = " ".join(BINARIES)
    pkgs = " ".join(PACKAGES)
    return (
        f'for b in {bins}; do command -v "$b" >/dev/null 2>&1 || continue; '
        'printf \'bin %s: %s\\n\' "$b" "$(timeout 5 "$b" --version 2>&1 | head -n 1)"; done; '
        "command -v dpkg-query >/dev/null 2>&1 && "
        f"dpkg-query -W -f='pkg ${{Package}}|${{Version}}|${{db:Status-Abbrev}}\\n' {pkgs} "
        "2>/dev/null; "
        "printf 'kernel %s\\n' \"$(uname -r)\""
    )


@dataclass(frozen=True)
class BinaryVersion:
    name: str
    line: str  # the first line of --version
    version: str | None  # "1.0", "7.2.5"

    @property
    def qemu_kvm(self) -> bool:
        """The qemu-kvm fork (as in 2012), rather than upstream qemu."""
        return "qemu-kvm" in self.line


@dataclass
class VersionReport:
    binaries: dict[str, BinaryVersion] = field(default_factory=dict)
    packages: dict[str, str] = field(default_factory=dict)  # installed only
    kernel: str | None = None

    @property
    def has_qemu(self) -> bool:
        return bool(self.binaries or self.packages)


def parse_versions(text: str) -> VersionReport:
    report = VersionReport()
    for line in text.splitlines():
        if line.startswith("bin ") and ": " in line:
            name, _, said = line[4:].partition(": ")
            m = _VERSION.search(said)
            report.binaries[name] = BinaryVersion(name, said.strip(), m.group(1) if m else None)
        elif line.startswith("pkg "):
            name, _, rest = line[4:].partition("|")
            version, _, status = rest.partition("|")
            # "ii " = installed; "un "/"rc " = known to dpkg but not installed
            if name.strip() and version.strip() and status.strip()[:1] in ("i", "h"):
                report.packages[name.strip()] = version.strip()
        elif line.startswith("kernel "):
            report.kernel = line[7:].strip() or None
    return report
