"""The overlay-mtu lab's plan: hosts, addresses, the VXLAN tenant network and configs.

Pure data and text, so tests and status can read it without building anything.
"""

from __future__ import annotations

from labs.core import tenant

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
UPLINK = tenant.UPLINK
CONTROLLER_UNDERLAY = "192.168.50.1"
COMPUTE_UNDERLAY = "192.168.50.2"
GATEWAY_IP = tenant.GATEWAY_IP  # the router's and dnsmasq's address on the tenant network
INSTANCE_IP = tenant.INSTANCE_IP
INSTANCE_MAC = "fa:16:3e:00:01:05"
OUTSIDE_IP = tenant.OUTSIDE_IP
NEUTRON_DIR = tenant.NEUTRON_DIR


HOSTS = tenant.hosts_of(NS_PREFIX, "10.250.23", ROOT_PREFIX, UPLINK)
CONTROLLER, COMPUTE, INSTANCE, OUTSIDE = HOSTS


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
