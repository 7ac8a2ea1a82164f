"""Which roles a host played, from what its sosreport holds (``--role HOST=ROLE`` replaces them).

Signals are files a real report holds when the service runs there, and that the lab
reports hold too (``tests/sosreports``):

- ``compute``: nova-compute's log, a ``compute_driver`` in nova.conf, sos' libvirt
  plugin output, an instances directory listing or its disks' headers, qemu binaries,
  or ``nova-compute`` / ``qemu`` in the process listing;
- ``controller``: nova-api's, nova-conductor's or nova-scheduler's log, sos' mysql or
  rabbitmq plugin output, a dnsmasq command line or config, or ``nova-api``,
  ``nova-conductor``, ``mysqld``/``mariadbd``, ``beam.smp`` (RabbitMQ) or ``dnsmasq``
  in the process listing.

A host is also known by its own name (``Inventory.by_role``), so a lab host called
``instance`` answers for the role ``instance``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.errors import CloudtalesError
from engine.sources.sos_tree import SosReport

EXTRAS = "sos_commands/sos_extras/cloudtales/"
PS_FILES = ("sos_commands/process/ps_auxwww", "sos_commands/process/ps_auxfwww", "ps")

# (role, why, any of these globs)
FILE_SIGNALS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "compute",
        "nova-compute.log",
        ("var/log/nova/nova-compute.log*", "var/log/containers/nova/nova-compute.log*"),
    ),
    ("compute", "libvirt plugin", ("sos_commands/libvirt/*", "etc/libvirt/qemu/*.xml")),
    (
        "compute",
        "instances directory",
        (
            EXTRAS + "cloudtales-instances-listing",
            EXTRAS + "cloudtales-disk-info",
            EXTRAS + "cloudtales-console-sizes",
        ),
    ),
    ("compute", "qemu binaries", (EXTRAS + "cloudtales-qemu-versions",)),
    (
        "controller",
        "nova-api/conductor/scheduler log",
        (
            "var/log/nova/nova-api.log*",
            "var/log/nova/nova-conductor.log*",
            "var/log/nova/nova-scheduler.log*",
            "var/log/containers/nova/nova-api.log*",
            "var/log/containers/nova/nova-conductor.log*",
            "run/cloudtales/labs/*/root/*/var/log/nova/nova-api.log",
        ),
    ),
    ("controller", "mysql plugin", ("sos_commands/mysql/*", "etc/my.cnf", "etc/mysql/my.cnf")),
    (
        "controller",
        "rabbitmq plugin",
        ("sos_commands/rabbitmq/*", EXTRAS + "cloudtales-list-queues"),
    ),
    (
        "controller",
        "dnsmasq",
        (EXTRAS + "cloudtales-dnsmasq-cmdlines", "etc/dnsmasq.conf", "**/dnsmasq-nova.conf"),
    ),
)
PS_SIGNALS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("compute", re.compile(r"nova-compute|qemu-system|qemu-kvm")),
    ("controller", re.compile(r"nova-api|nova-conductor|mysqld|mariadbd|beam\.smp|dnsmasq")),
)


@dataclass(frozen=True)
class RoleGuess:
    role: str
    why: str


def infer_roles(report: SosReport) -> list[RoleGuess]:
    """Each role the report shows, with the first signal that says so."""
    found: dict[str, str] = {}
    for role, why, patterns in FILE_SIGNALS:
        if role not in found and any(report.glob(p) for p in patterns):
            found[role] = why
    if report.path("etc/nova/nova.conf") and "compute" not in found:
        conf = report.head(report.root / "etc/nova/nova.conf", 1 << 20)
        if re.search(r"^\s*compute_driver\s*=", conf, re.M):
            found["compute"] = "compute_driver in nova.conf"
    for name in PS_FILES:
        ps = report.path(name)
        if ps is None:
            continue
        text = report.head(ps, 4 << 20)
        for role, pattern in PS_SIGNALS:
            if role not in found and (m := pattern.search(text)):
                found[role] = f"{m.group(0)} running"
        break
    return [RoleGuess(role, why) for role, why in sorted(found.items())]


def parse_role_overrides(items: Sequence[str]) -> dict[str, list[str]]:
    """``--role HOST=ROLE[,ROLE]`` (repeatable) -> host -> roles."""
    out: dict[str, list[str]] = {}
    for item in items:
        host, sep, roles = item.partition("=")
        names = [r.strip() for r in roles.split(",") if r.strip()]
        if not sep or not host.strip() or not names:
            raise CloudtalesError(f"--role {item!r}: expected HOST=ROLE (e.g. cc11=compute)")
        out.setdefault(host.strip(), []).extend(names)
    return out


def roles_of(report: SosReport, overrides: Mapping[str, Sequence[str]]) -> list[str]:
    """The roles ``--role`` gives this host (they replace what was inferred), else the
    inferred ones."""
    given = overrides.get(report.name)
    if given:
        return list(dict.fromkeys(given))
    return [g.role for g in infer_roles(report)]
