"""The conntrack-full lab's plan: hosts, addresses, the router's ruleset, the burst.

Pure data and text, so tests and status can read it without building anything.
"""

from __future__ import annotations

from labs.core import tenant

NS_PREFIX = "ct-cf-"
ROOT_PREFIX = "ctcf-"
MGMT_BRIDGE = f"{ROOT_PREFIX}mgmt"
MGMT_NET = "10.250.33.0/24"
MGMT_GATEWAY = "10.250.33.254/24"
MODE = "router-conntrack"

UPLINK = tenant.UPLINK
BRIDGE = tenant.BRIDGE
GATEWAY_IP = tenant.GATEWAY_IP  # the network node: the tenant router
INSTANCE_IP = tenant.INSTANCE_IP
INSTANCE_MAC = "fa:16:3e:00:03:05"
OUTSIDE_IP = tenant.OUTSIDE_IP
ROUTER_OUTSIDE_IP = "203.0.113.1"
APP_PORT = 8080  # the instance's service the burst and the probes connect to

LOWERED_MAX = 128  # the global nf_conntrack_max while the faulty lab is up
BURST = LOWERED_MAX + 8  # connections the burst may open (bounded): it fills 128 and stops

HOSTS = tenant.hosts_of(NS_PREFIX, "10.250.33", ROOT_PREFIX, BRIDGE)
CONTROLLER, COMPUTE, INSTANCE, OUTSIDE = HOSTS

ROUTER_NFT = """\
# the router namespace's ruleset, as an L3 agent's stateful rules make conntrack track
# every routed flow; the management network (mgmt0: sshd) is not tracked, nor the
# router's own IGMP reports (an entry that would expire and free a slot now and then)
table inet cloudtales_router {
  chain raw_prerouting {
    type filter hook prerouting priority raw; policy accept;
    iifname "mgmt0" notrack
    meta l4proto igmp notrack
  }
  chain raw_output {
    type filter hook output priority raw; policy accept;
    oifname "mgmt0" notrack
    meta l4proto igmp notrack
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    ct state established,related counter accept
    ct state new counter accept
  }
}
"""
