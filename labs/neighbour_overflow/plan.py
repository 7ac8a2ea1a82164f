"""The neighbour-overflow lab's plan: hosts, addresses, the ARP thresholds, the ports.

Pure data, so tests and status can read it without building anything.
"""

from __future__ import annotations

from pathlib import Path

from labs.core import tenant

NS_PREFIX = "ct-no-"
ROOT_PREFIX = "ctno-"
MGMT_BRIDGE = f"{ROOT_PREFIX}mgmt"
MGMT_NET = "10.250.34.0/24"
MGMT_GATEWAY_IP = "10.250.34.254"
MGMT_GATEWAY = f"{MGMT_GATEWAY_IP}/24"
MODE = "router-neighbours"

UPLINK = tenant.UPLINK
BRIDGE = tenant.BRIDGE
GATEWAY_IP = tenant.GATEWAY_IP  # the network node: the tenant router
INSTANCE_IP = tenant.INSTANCE_IP
INSTANCE_MAC = "fa:16:3e:00:04:05"
OUTSIDE_IP = tenant.OUTSIDE_IP
ROUTER_OUTSIDE_IP = "203.0.113.1"

HOSTS = tenant.hosts_of(NS_PREFIX, "10.250.34", ROOT_PREFIX, BRIDGE)
CONTROLLER, COMPUTE, INSTANCE, OUTSIDE = HOSTS

# the tenant network's other ports: one namespace holding their addresses, plugged into
# the compute's bridge like another instance's tap; the router talks to every one of them
PORTS_NETNS = f"{NS_PREFIX}ports"
PORTS_TAP = "tap1"
PORTS = tuple(f"10.0.100.{i}" for i in range(100, 200))  # 100 neighbours of the router
HEARTBEAT_INTERVAL = 0.5  # s between two rounds of one UDP datagram to every port
HEARTBEAT_LIFETIME = 900  # s: the traffic stops by itself after 15 minutes (bounded)

# the ARP table's GLOBAL garbage-collection thresholds while the faulty lab is up
NEIGH_DEFAULT = Path("/proc/sys/net/ipv4/neigh/default")
THRESH_PATHS = {f"gc_thresh{i}": NEIGH_DEFAULT / f"gc_thresh{i}" for i in (1, 2, 3)}
LOWERED = {"gc_thresh1": 16, "gc_thresh2": 32, "gc_thresh3": 64}
