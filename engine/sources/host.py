"""Host sources: mounts, processes, dnsmasq, libvirt domains, qemu versions."""

from __future__ import annotations

from engine.parsers.qemu_version import versions_command
from engine.sources.registry import register
from engine.sources.spec import Source

EXTRAS = "sos_commands/sos_extras/cloudtales/"


register(
    Source(
        "mounts",
        "The mount table as ssh sessions see it",
        live=lambda _p: "cat /proc/self/mountinfo",
        sos=(EXTRAS + "cloudtales-mountinfo", "proc/self/mountinfo", "proc/mounts"),
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
