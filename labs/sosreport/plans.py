"""Which sos plugins, options and extras collect what each tale's checks read, per lab host.

Debian's ``sos`` (4.0) decides which plugins run from the packages it believes are
installed; a lab host has no nova, libvirt or rabbitmq packages, so every plugin a
tale needs is forced with ``-o`` (only these). What no plugin collects in the form the
checks parse (``ip -j``, ``bridge -j``, the dnsmasq command line of this namespace only,
sizes under the instances path) comes from sos' own ``sos_extras`` plugin: a file in
``/etc/sos/extras.d`` whose lines are commands (their output lands in
``sos_commands/sos_extras/cloudtales/<command>``) or ``:PATH [MiB]`` copies. The shell
snippets are the very commands the live checks run (imported from the engine), saved as
``cloudtales-NAME`` scripts on sos' PATH, so the report holds the same bytes a check parses.

Hosts that are not Linux servers in the tale get no sosreport: the valentines lab's
switches stand in for Arista EOS switches, whose logs come from ``show logging``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engine.checks.lease_time import PROCESSES as DNSMASQ_PROCESSES
from engine.parsers.dhcp_client import client_report_command
from engine.parsers.find_sizes import find_sizes_command
from engine.parsers.qemu_version import versions_command
from engine.parsers.rabbitmqctl import list_queues_command

BASE_PLUGINS = ("host", "networking")
"""Every host: ``host`` (``sos_commands/host/hostname``: the lab host's UTS name) and
``networking`` (``ip -s -d link``, ``ip -d address``, ``bridge ... fdb show``, ``ethtool -k``,
``/proc/net``)."""

NET_EXTRAS = ("ip -j -d link show", "ip -s -j link show")
"""What the link checks parse (JSON), next to the networking plugin's text forms."""

INSTANCES_PATH = "/var/lib/nova/instances"

DISK_INFO = (
    f'for d in {INSTANCES_PATH}/*/disk; do [ -e "$d" ] || continue; echo "== $d"; '
    'qemu-img info --output=json -U -- "$d" 2>&1; done'
)
"""Each instance disk's own qcow2 header (its backing file), as ``backing_chain`` reads it."""

SWITCH_SKIPPED = "an Arista EOS switch in the tale: no sos; its log is `show logging`"

INSTANCES_LISTING = f"ls -lR --time-style=full-iso {INSTANCES_PATH}"


@dataclass(frozen=True)
class HostSos:
    """How to make one host's sosreport."""

    host: str
    plugins: tuple[str, ...]
    options: tuple[str, ...] = ()  # ``-k plugin.option=value``
    extras: tuple[str, ...] = ()  # sos_extras lines: commands, or ``:PATH [MiB]``
    scripts: Mapping[str, str] = field(default_factory=dict)  # cloudtales-NAME -> sh body

    @property
    def all_plugins(self) -> tuple[str, ...]:
        needed = self.extras or self.scripts
        return (*BASE_PLUGINS, *self.plugins, *(("sos_extras",) if needed else ()))

    def extras_lines(self) -> list[str]:
        return [*self.extras, *(f"cloudtales-{name}" for name in self.scripts)]


@dataclass(frozen=True)
class LabSos:
    lab: str
    hosts: tuple[HostSos, ...]
    skipped: Mapping[str, str] = field(default_factory=dict)  # host -> why no sosreport


def _host(
    host: str,
    plugins: tuple[str, ...] = (),
    *,
    extras: tuple[str, ...] = (),
    scripts: Mapping[str, str] | None = None,
    options: tuple[str, ...] = (),
) -> HostSos:
    return HostSos(host, plugins, options, (*NET_EXTRAS, *extras), dict(scripts or {}))


def mountinfo_script(sshd_pid: int) -> str:
    """The host's mount table as its ssh sessions see it (sos itself runs in a private
    mount namespace with three extra mounts, so its own /proc/self/mountinfo would lie)."""
    return f"cat /proc/{int(sshd_pid)}/mountinfo"


def plan(lab: str, run_dir: Path, sshd_pids: Mapping[str, int]) -> LabSos:
    """The sosreports of ``lab`` (built under ``run_dir``; each host's sshd pid)."""
    if lab == "double-vlan":
        nova = ("openstack_nova",)
        return LabSos(
            lab,
            (
                _host("controller", nova),
                _host("compute", nova),
                _host("instance"),
                _host("outside"),
            ),
        )
    if lab == "valentines":
        bond_status = run_dir / "compute" / "proc-net-bonding" / "bond0"
        node_xml = run_dir / "libvirt" / "node.xml"
        return LabSos(
            lab,
            (
                _host(
                    "compute",
                    ("libvirt",),
                    extras=("bridge -j fdb show", f":{bond_status}", f":{node_xml}"),
                ),
            ),
            skipped=dict.fromkeys(("sw1", "sw2"), SWITCH_SKIPPED),
        )
    if lab == "the-issue":
        controller_dir = run_dir / "controller"
        return LabSos(
            lab,
            (
                _host(
                    "controller",
                    extras=(f":{controller_dir}/dnsmasq-nova.conf", f":{controller_dir}/*.leases"),
                    scripts={"dnsmasq-cmdlines": DNSMASQ_PROCESSES},
                ),
                _host("compute", scripts={"qemu-versions": versions_command()}),
                _host(
                    "instance",
                    extras=(f":{run_dir}/instance/dhclient.leases",),
                    scripts={"dhcp-clients": client_report_command("eth0")},
                ),
            ),
            skipped={"outside": "the tale's iperf3 client on the internet: no ssh, no sos"},
        )
    if lab == "disappearing-images":
        hosts = []
        for name in ("compute1", "compute2"):
            node_xml = run_dir / "hosts" / name / "node.xml"
            scripts = {
                "instances-listing": INSTANCES_LISTING,
                "disk-info": DISK_INFO,
                "mountinfo": mountinfo_script(sshd_pids[name]),
            }
            hosts.append(
                _host(
                    name, ("openstack_nova", "libvirt"), extras=(f":{node_xml}",), scripts=scripts
                )
            )
        return LabSos(lab, tuple(hosts))
    if lab == "rabbit-hole":
        # this lab keeps each host's files under RUN_DIR/root/HOST (inventory vars
        # instances_path, nova_api_log), not at nova's paths: sos_extras copies them there
        root = run_dir / "root"
        queues = {"list-queues": list_queues_command("rabbitmqctl", "/", 2 * 1024 * 1024)}
        api_log = f":{root}/controller/var/log/nova/nova-api.log"
        hosts = [
            _host("controller", ("openstack_nova", "rabbitmq"), extras=(api_log,), scripts=queues)
        ]
        for name in ("cc11", "cc12"):
            where = str(root / name / "var/lib/nova/instances")
            sizes = {"console-sizes": find_sizes_command(where, "console.log")}
            hosts.append(_host(name, ("openstack_nova",), scripts=sizes))
        return LabSos(lab, tuple(hosts))
    if lab == "havana":
        return LabSos(lab, (_host("controller", ("openstack_nova", "mysql")),))
    raise KeyError(lab)
