"""The dns lab's plan: hosts, addresses, the two resolvers and configs.

Pure data and text, so tests and status can read it without building anything.
"""

from __future__ import annotations

from labs.core import tenant

NS_PREFIX = "ct-dn-"
ROOT_PREFIX = "ctdn-"
MGMT_BRIDGE = f"{ROOT_PREFIX}mgmt"
MGMT_NET = "10.250.31.0/24"
MGMT_GATEWAY = "10.250.31.254/24"
MODE = "dnsmasq-forwarder"

UPLINK = tenant.UPLINK
BRIDGE = tenant.BRIDGE
GATEWAY_IP = tenant.GATEWAY_IP  # the network node: router, DHCP and DNS (dnsmasq)
INSTANCE_IP = tenant.INSTANCE_IP
INSTANCE_MAC = "fa:16:3e:00:02:05"
OUTSIDE_IP = tenant.OUTSIDE_IP  # also the site router towards the resolvers' network
RESOLVER_NET = "198.51.100.0/24"
RESOLVER_IP = "198.51.100.53"  # the site resolver: a second real dnsmasq, its own namespace
RESOLVER_NS = f"{NS_PREFIX}resolver"
NAME = "www.openstack.org"  # the site resolver's record: what the instance looks up
NAME_IP = "198.51.100.80"
NEUTRON_DIR = tenant.NEUTRON_DIR


HOSTS = tenant.hosts_of(NS_PREFIX, "10.250.31", ROOT_PREFIX, BRIDGE)
CONTROLLER, COMPUTE, INSTANCE, OUTSIDE = HOSTS


def dhcp_agent_ini() -> str:
    """The DHCP agent's forwarders: the site resolver (the same when faulty: the fault
    is the network node's route to it, not the setting)."""
    return (
        "[DEFAULT]\n"
        "interface_driver = linuxbridge\n"
        "dhcp_driver = neutron.agent.linux.dhcp.Dnsmasq\n"
        f"dnsmasq_dns_servers = {RESOLVER_IP}\n"
        f"dnsmasq_config_file = {NEUTRON_DIR}/dnsmasq-neutron.conf\n"
    )


DNSMASQ_NEUTRON_CONF = "# /etc/neutron/dnsmasq-neutron.conf (dhcp_agent.ini dnsmasq_config_file)\n"


def resolver_argv(run_dir: str) -> list[str]:
    """The site resolver: authoritative for the lab's one name, nothing upstream."""
    return [
        "dnsmasq",
        "--no-hosts",
        "--no-resolv",
        "--bind-interfaces",
        f"--listen-address={RESOLVER_IP}",
        "--except-interface=lo",
        f"--host-record={NAME},{NAME_IP}",
        "--log-queries",
        f"--log-facility={run_dir}/resolver.log",
        f"--pid-file={run_dir}/resolver.pid",
    ]
