"""One lab host as every namespace lab plans it: a namespace with sshd on a management port.

A host ``NAME`` of a lab lives in namespace ``PREFIX<NAME>``; its ``mgmt0`` carries
``mgmt_ip`` (a /24 on the lab's management bridge, whose root-side veth is
``root_veth``), and sshd listens there. On the tale's data path it may have an address
of its own (``data_ip``) and the interface a capture listens on (``capture_iface``).
Its inventory role is its name unless the lab gives it one (``role``: two computes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from labs.core import netns


@dataclass(frozen=True)
class HostPlan:
    ns_prefix: str
    name: str
    mgmt_ip: str
    root_veth: str
    data_ip: str | None = None
    capture_iface: str = "eth0"
    role: str = ""

    @property
    def netns(self) -> str:
        return self.ns_prefix + self.name

    @property
    def roles(self) -> list[str]:
        return [self.role or self.name]


def mgmt_ports(hosts: Iterable[HostPlan]) -> list[tuple[str, str, str, str]]:
    """The ports ``netns_lab.wire_mgmt_bridge`` wires: each host's ``mgmt0``."""
    return [(h.netns, h.root_veth, "mgmt0", h.mgmt_ip) for h in hosts]


def ssh_hosts(
    hosts: Iterable[HostPlan], also_listen: Mapping[str, tuple[str, ...]] | None = None
) -> tuple[netns.SshHost, ...]:
    """Each host's sshd on its management address (and, by host name, on ``also_listen``)."""
    more = also_listen or {}
    return tuple(
        netns.SshHost(h.name, h.netns, h.mgmt_ip, also_listen=more.get(h.name, ())) for h in hosts
    )


def inventory_entry(host: HostPlan, host_vars: Mapping[str, object]) -> dict[str, object]:
    """The host as the inventory lists it: reached over ssh on its management address."""
    return {"address": host.mgmt_ip, "port": 22, "roles": host.roles, "vars": dict(host_vars)}
