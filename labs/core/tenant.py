"""What the neutron-style network labs share: four hosts, one inventory shape, their /etc.

The overlay-mtu and dns labs (and any lab the ``instance-unreachable`` triage serves)
have the same hosts (controller, compute, instance, outside) and write the same
variables, so routing never leans on a variable only one lab has: every host has ``ip``,
``capture_iface``, ``mtu``, ``lab_mode`` and ``netns``; the controller and the compute
``uplink`` and ``nova_conf``; the controller ``dhcp_iface``; the compute ``tap_iface``
and ``bridge``; the instance ``dhcp_iface`` and ``mac``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from labs.core import netns, netns_lab
from labs.core.base import LabState
from labs.core.host_plan import HostPlan, inventory_entry
from labs.core.netns_lab import ETC_NETNS
from labs.core.shared_dirs import claim

NOVA_DIR = "/etc/nova"
NOVA_CONF = "/etc/nova/nova.conf"
NEUTRON_DIR = "/etc/neutron"
UPLINK = "bond0"  # a veth named like the other labs' uplinks (no bonding driver here)
BRIDGE = "brq-tenant"  # linuxbridge agent naming
GATEWAY_IP = "10.0.100.1"
INSTANCE_IP = "10.0.100.5"
OUTSIDE_IP = "203.0.113.10"


def hosts_of(prefix: str, mgmt: str, root: str, controller_iface: str) -> tuple[HostPlan, ...]:
    """controller, compute, instance, outside: namespaces ``PREFIX<name>``, management
    addresses ``MGMT.1``..``MGMT.4``, root-side veths ``ROOT-ctl`` ..."""
    return (
        HostPlan(prefix, "controller", f"{mgmt}.1", f"{root}ctl", GATEWAY_IP, controller_iface),
        HostPlan(prefix, "compute", f"{mgmt}.2", f"{root}cmp", None, UPLINK),
        HostPlan(prefix, "instance", f"{mgmt}.3", f"{root}ins", INSTANCE_IP),
        HostPlan(prefix, "outside", f"{mgmt}.4", f"{root}out", OUTSIDE_IP),
    )


def shared_dirs() -> tuple[Path, ...]:
    """Root-namespace dirs ``ip netns exec`` binds /etc/netns/NS/* over."""
    return (ETC_NETNS, Path(NEUTRON_DIR), Path(NOVA_DIR))


def make_shared_dirs(state: LabState, state_path: Path, dirs: Iterable[Path] | None = None) -> None:
    """Create the shared dirs (default: ``shared_dirs()``), recording first (in the saved
    state) those this lab creates, and claim them for the lab whose run dir holds
    ``state_path``: ``lab down`` removes them only when no other lab uses them."""
    shared = tuple(shared_dirs() if dirs is None else dirs)
    state.created_paths = [str(d) for d in shared if not d.exists()]
    state.save(state_path)
    # ip netns exec binds /etc/netns/NS/{neutron,nova} over them
    claim(state_path.parent.name, shared)


def add_namespaces(names: Iterable[str], routers: Iterable[str]) -> None:
    """Each namespace with IPv6 off (routers forward), and its own resolv.conf: dhclient-
    script writes /etc/resolv.conf, which ``ip netns exec`` binds to the namespace's."""
    names = list(names)
    netns_lab.add_namespaces(names, routers)
    for ns in names:
        etc = ETC_NETNS / ns
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text("# the lab host's own (dhclient-script writes it)\n")


def wire_routed_instance(
    ctl: str,
    cmp_: str,
    ins: str,
    out: str,
    *,
    tenant_net: str,
    instance_ip: str,
    tap: str = "tap0",
    mtu: int = 1500,
    gso_max_segs: int | None = None,
) -> None:
    """The routed data path several labs share: outside ``eth0`` 203.0.113.10 -- ``eth1``
    203.0.113.1 of the controller (the router), whose ``bond0`` (``TENANT_NET.1``) meets the
    compute's; the instance's ``eth0`` (``instance_ip``, default route via the router) --
    ``tap`` in the compute, which the lab bridges. Every veth at ``mtu``/``gso_max_segs``."""
    gateway = f"{tenant_net}.1"
    netns.add_veth("eth0", "eth1", ns=out, peer_ns=ctl, mtu=mtu, gso_max_segs=gso_max_segs)
    netns.add_address("eth0", f"{OUTSIDE_IP}/24", ns=out)
    netns.link_up("eth0", ns=out)
    netns.add_route(f"{tenant_net}.0/24", "203.0.113.1", ns=out)
    netns.add_address("eth1", "203.0.113.1/24", ns=ctl)
    netns.link_up("eth1", ns=ctl)

    netns.add_veth(UPLINK, UPLINK, ns=ctl, peer_ns=cmp_, mtu=mtu, gso_max_segs=gso_max_segs)
    netns.add_address(UPLINK, f"{gateway}/24", ns=ctl)
    netns.link_up(UPLINK, ns=ctl)

    netns.add_veth("eth0", tap, ns=ins, peer_ns=cmp_, mtu=mtu, gso_max_segs=gso_max_segs)
    netns.add_address("eth0", f"{instance_ip}/24", ns=ins)
    netns.link_up("eth0", ns=ins)
    netns.add_route("default", gateway, ns=ins)


def wire_bridged_router(
    hosts: Sequence[HostPlan],
    instance_mac: str,
    more_ports: Sequence[tuple[str, str]] = (),
) -> None:
    """The routed path of the labs whose router bridges its tenant side: outside ``eth0``
    203.0.113.10 -- ``eth1`` 203.0.113.1 of the controller, whose ``bond0`` joins its
    ``BRIDGE`` (holding ``GATEWAY_IP``) to the compute's ``BRIDGE``; the instance's ``eth0``
    (``instance_mac``, ``INSTANCE_IP``, default route via the router) -- ``tap0`` on the
    compute's bridge, and each of ``more_ports`` (namespace, tap) -- its ``eth0`` there too."""
    ctl, cmp_, ins, out = (h.netns for h in hosts)
    netns.add_veth("eth0", "eth1", ns=out, peer_ns=ctl)
    netns.add_address("eth0", f"{OUTSIDE_IP}/24", ns=out)
    netns.link_up("eth0", ns=out)
    netns.add_route("10.0.100.0/24", "203.0.113.1", ns=out)
    netns.add_address("eth1", "203.0.113.1/24", ns=ctl)
    netns.link_up("eth1", ns=ctl)

    netns.add_veth(UPLINK, UPLINK, ns=ctl, peer_ns=cmp_)
    netns.add_veth("eth0", "tap0", ns=ins, peer_ns=cmp_)
    for ns, tap in more_ports:
        netns.add_veth("eth0", tap, ns=ns, peer_ns=cmp_)
    netns.ip("link", "set", "dev", "eth0", "address", instance_mac, ns=ins)
    compute_ports = (UPLINK, "tap0", *(tap for _ns, tap in more_ports))
    for ns, ports in ((ctl, (UPLINK,)), (cmp_, compute_ports)):
        netns.add_bridge(BRIDGE, ns=ns)
        for dev in ports:
            netns.set_master(dev, BRIDGE, ns=ns)
            netns.link_up(dev, ns=ns)
        netns.link_up(BRIDGE, ns=ns)
    netns.add_address(BRIDGE, f"{GATEWAY_IP}/24", ns=ctl)
    netns.add_address("eth0", f"{INSTANCE_IP}/24", ns=ins)
    netns.link_up("eth0", ns=ins)
    netns.add_route("default", GATEWAY_IP, ns=ins)


def write_nova_confs(hosts: Iterable[HostPlan]) -> None:
    """nova.conf of each node: networking is neutron's (no vlan_interface anywhere)."""
    for h in hosts:
        nova = ETC_NETNS / h.netns / "nova"
        nova.mkdir(parents=True, exist_ok=True)
        (nova / "nova.conf").write_text(
            f"[DEFAULT]\nmy_ip={h.mgmt_ip}\nuse_neutron=True\n[neutron]\nurl=http://{GATEWAY_IP}:9696\n"
        )


def inventory_hosts(
    hosts: Sequence[HostPlan], *, mode: str, mtu: int, instance_mac: str, bridge: str = BRIDGE
) -> dict[str, object]:
    """The ``hosts`` of the inventory, in the shape every network lab writes."""
    controller, compute, instance, outside = hosts
    own: dict[str, dict[str, object]] = {
        controller.name: {"ip": controller.data_ip, "uplink": UPLINK, "dhcp_iface": bridge,
                          "nova_conf": NOVA_CONF},
        compute.name: {"ip": None, "uplink": UPLINK, "tap_iface": "tap0", "bridge": bridge,
                       "nova_conf": NOVA_CONF},
        instance.name: {"ip": instance.data_ip, "dhcp_iface": "eth0", "mac": instance_mac},
        outside.name: {"ip": outside.data_ip},
    }  # fmt: skip
    return {
        h.name: inventory_entry(
            h,
            {
                **own[h.name],
                "capture_iface": h.capture_iface,
                "mtu": mtu,
                "lab_mode": mode,
                "netns": h.netns,
            },
        )
        for h in hosts
    }
