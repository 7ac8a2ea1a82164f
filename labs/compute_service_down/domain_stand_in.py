"""A stand-in for the libvirt domain nova's libvirt driver would define (the lab runs
``fake.FakeDriver``, which defines none).

Written where libvirtd keeps a defined domain, ``/etc/libvirt/qemu/NAME.xml`` in the
compute's namespace (``ip netns exec`` binds ``/etc/netns/NS/libvirt`` over /etc/libvirt,
for the compute's sshd too), in the shape nova writes: the instance name, the server's
UUID, ``<nova:instance>`` metadata with the display name, and one bridge interface with
a ``fa:16:3e`` MAC and a ``tapXXXXXXXX-XX`` target. The tap itself is a real tap device
(``ip tuntap``) in the compute's namespace. With no neutron there is no port id, so the
tap is named after the server's UUID (nova names it after the port's).

It exists so ``investigate --server`` reads the tap and the MAC the way it does on a
libvirt compute (the domain matched by instance name, over SSH); the API side of the
resolution stays real.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labs.core import netns
from labs.core.netns_lab import ETC_NETNS

BRIDGE = "brq-lab"


@dataclass(frozen=True)
class StandInDomain:
    instance_name: str
    uuid: str
    server_name: str

    @property
    def tap(self) -> str:
        return ("tap" + self.uuid)[:14]

    @property
    def mac(self) -> str:
        h = self.uuid.replace("-", "")
        return f"fa:16:3e:{h[0:2]}:{h[2:4]}:{h[4:6]}"

    def xml(self) -> str:
        return (
            "<!-- a cloudtales lab stand-in for nova's libvirt domain (fake.FakeDriver "
            "defines none): labs/compute_service_down/domain_stand_in.py -->\n"
            '<domain type="kvm">\n'
            f"  <name>{self.instance_name}</name>\n"
            f"  <uuid>{self.uuid}</uuid>\n"
            "  <metadata>\n"
            '    <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">\n'
            f"      <nova:name>{self.server_name}</nova:name>\n"
            "    </nova:instance>\n"
            "  </metadata>\n"
            "  <devices>\n"
            '    <interface type="bridge">\n'
            f'      <mac address="{self.mac}"/>\n'
            f'      <source bridge="{BRIDGE}"/>\n'
            f'      <target dev="{self.tap}"/>\n'
            '      <model type="virtio"/>\n'
            "    </interface>\n"
            "  </devices>\n"
            "</domain>\n"
        )


def qemu_dir(ns: str, etc_netns: Path = ETC_NETNS) -> Path:
    """Where the domain goes; it must exist before the namespace's sshd is started
    (``ip netns exec`` makes its binds when it execs a program)."""
    return etc_netns / ns / "libvirt" / "qemu"


def define(ns: str, domain: StandInDomain, etc_netns: Path = ETC_NETNS) -> Path:
    """The domain's XML where libvirtd keeps it, and its tap device, in namespace ``ns``."""
    qemu = qemu_dir(ns, etc_netns)
    qemu.mkdir(parents=True, exist_ok=True)
    path = qemu / f"{domain.instance_name}.xml"
    path.write_text(domain.xml())
    netns.run(netns.in_ns(ns, ["ip", "tuntap", "add", "dev", domain.tap, "mode", "tap"]))
    netns.link_up(domain.tap, ns=ns)
    return path
