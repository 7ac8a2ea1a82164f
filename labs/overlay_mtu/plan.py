"""The overlay-mtu lab's plan: hosts, addresses, the VXLAN tenant network and configs.

Pure data and text, so tests and status can read it without building anything.
"""

from __future__ import annotations

from dataclasses import dataclass

NS_PREFIX = "ct-om-"
ROOT_PREFIX = "ctom-"
MGMT_BRIDGE = f"{ROOT_PREFIX}mgmt"
MGMT_NET = "10.250.23.0/24"
MGMT_GATEWAY = "10.250.23.254/24"
MODE = "vxlan"

UNDERLAY_MTU = 1500  # the physical network: a plain 1500-byte Ethernet
VXLAN_OVERHEAD = 50  # outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8
NETWORK_MTU = UNDERLAY_MTU - VXLAN_OVERHEAD  # what neutron computes for the network: 1450
VNI = 5
VXLAN_PORT = 4789
VXLAN_DEV = f"vxlan-{VNI}"  # linuxbridge agent naming
BRIDGE = "brq-tenant"
UPLINK = "bond0"  # the underlay NIC, a veth named like the other labs' uplinks
CONTROLLER_UNDERLAY = "192.168.50.1"
COMPUTE_UNDERLAY = "192.168.50.2"
GATEWAY_IP = "10.0.100.1"  # the router's and dnsmasq's address on the tenant network
INSTANCE_IP = "10.0.100.5"
INSTANCE_MAC = "fa:16:3e:00:01:05"
OUTSIDE_IP = "203.0.113.10"
NEUTRON_DIR = "/etc/neutron"
NOVA_DIR = "/etc/nova"
NOVA_CONF = "/etc/nova/nova.conf"


@dataclass(frozen=True)
class HostPlan:
    name: str
    mgmt_ip: str
    root_veth: str
    data_ip: str | None
    capture_iface: str

    @property
    def netns(self) -> str:
        return NS_PREFIX + self.name


CONTROLLER = HostPlan("controller", "10.250.23.1", "ctom-ctl", GATEWAY_IP, UPLINK)
COMPUTE = HostPlan("compute", "10.250.23.2", "ctom-cmp", None, UPLINK)
INSTANCE = HostPlan("instance", "10.250.23.3", "ctom-ins", INSTANCE_IP, "eth0")
OUTSIDE = HostPlan("outside", "10.250.23.4", "ctom-out", OUTSIDE_IP, "eth0")
HOSTS = (CONTROLLER, COMPUTE, INSTANCE, OUTSIDE)


def dnsmasq_neutron_conf(healthy: bool) -> str:
    """The DHCP agent's ``dnsmasq_config_file``: the install guides' MTU line, or not."""
    head = "# /etc/neutron/dnsmasq-neutron.conf (dhcp_agent.ini dnsmasq_config_file)\n"
    if healthy:
        return head + f"dhcp-option-force=26,{NETWORK_MTU}\n"
    return head + "# (the MTU line of the install guide was never added)\n"


def neutron_conf() -> str:
    return f"[DEFAULT]\ncore_plugin = ml2\nglobal_physnet_mtu = {UNDERLAY_MTU}\n"


def ml2_conf() -> str:
    return (
        "[ml2]\n"
        "type_drivers = flat,vlan,vxlan\n"
        "tenant_network_types = vxlan\n"
        "mechanism_drivers = linuxbridge\n"
        f"path_mtu = {UNDERLAY_MTU}\n"
        "[ml2_type_vxlan]\n"
        "vni_ranges = 1:1000\n"
    )


def dhcp_agent_ini(conf_path: str) -> str:
    return (
        "[DEFAULT]\n"
        "interface_driver = linuxbridge\n"
        "dhcp_driver = neutron.agent.linux.dhcp.Dnsmasq\n"
        f"dnsmasq_config_file = {conf_path}\n"
    )


def nova_conf(host: HostPlan) -> str:
    """nova.conf of a node: networking is neutron's (no vlan_interface anywhere)."""
    return (
        "[DEFAULT]\n"
        f"my_ip={host.mgmt_ip}\n"
        "use_neutron=True\n"
        "[neutron]\n"
        "url=http://10.250.23.1:9696\n"
    )
