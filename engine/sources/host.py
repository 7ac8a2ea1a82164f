"""Host sources: mounts, processes, dnsmasq, libvirt domains, qemu versions."""

from __future__ import annotations

import shlex

from engine.parsers.mounts import FILE_STAT_FORMAT
from engine.parsers.qemu_version import versions_command
from engine.sources.registry import register
from engine.sources.spec import AbsPath, Source, SourceParams

EXTRAS = "sos_commands/sos_extras/cloudtales/"
MAX_MOUNTINFO_BYTES = 1 << 20


class LogTailParams(SourceParams):
    path: AbsPath
    lines: int = 5000
    max_bytes: int = 262144


def tail_command(path: str, lines: int, max_bytes: int) -> str:
    return f"tail -n {int(lines)} -- {shlex.quote(path)} | tail -c {int(max_bytes)}"


def _readable_tail(p: LogTailParams) -> str:
    # `set -o pipefail` is not POSIX: test the file first, so a missing log is an error
    return f"test -r {shlex.quote(p.path)} && " + tail_command(p.path, p.lines, p.max_bytes)


class ImageParams(SourceParams):
    path: AbsPath
    chain: bool = False  # --backing-chain: every layer qemu-img can open


def qemu_img_info_command(path: str, chain: bool) -> str:
    flag = " --backing-chain" if chain else ""
    return f"qemu-img info{flag} --output=json -U -- {shlex.quote(path)}"


class StatParams(SourceParams):
    paths: tuple[AbsPath, ...]


def _stat(p: StatParams) -> str:
    quoted = " ".join(shlex.quote(path) for path in p.paths)
    return f"stat -L -c '{FILE_STAT_FORMAT}' -- {quoted}"


register(
    Source(
        "qemu_img_info",
        "A disk image's qcow2 header(s), JSON",
        live=lambda p: qemu_img_info_command(p.path, p.chain),
        params=ImageParams,
        sos=(EXTRAS + "cloudtales-disk-info",),
        sos_note="the lab reports hold each instance disk's own header, not whole chains",
        parser="engine.parsers.qemu_img.parse_qemu_img_info",
    )
)
register(
    Source(
        "file_stats",
        "Size, mtime, inode and name of files (stat -L)",
        live=_stat,
        params=StatParams,
        sos=(EXTRAS + "cloudtales-instances-listing",),
        sos_note="derived from the instances listing (ls -lR): paths under it only, inode 0",
        parser="engine.parsers.mounts.parse_file_stats",
    )
)
register(
    Source(
        "switch_log_tail",
        "The last lines of a (switch's) syslog, bounded",
        live=_readable_tail,
        params=LogTailParams,
        offline=False,
        sos_note="the tale's switches are EOS boxes without sos: `show logging` is live only",
        parser="engine.parsers.switch_log.parse_switch_log",
    )
)


register(
    Source(
        "mounts",
        "The mount table as ssh sessions see it",
        live=lambda _p: f"head -c {MAX_MOUNTINFO_BYTES} /proc/self/mountinfo",
        sos=(EXTRAS + "cloudtales-mountinfo", "proc/self/mountinfo"),
        parser="engine.checks.instances_shared",
    )
)
register(
    Source(
        "qemu_versions",
        "qemu binaries' versions",
        live=lambda _p: versions_command(),
        sos=(EXTRAS + "cloudtales-qemu-versions",),
        parser="engine.parsers.qemu_version",
    )
)
register(
    Source(
        "libvirt_domains",
        "libvirt's domains (libvirt API; virsh for the operator)",
        live=lambda _p: "virsh list --all --uuid --name",
        sos=("sos_commands/libvirt/virsh_-r_list_--all", "etc/libvirt/qemu/*.xml"),
        parser="engine.checks.libvirt_disks",
    )
)
