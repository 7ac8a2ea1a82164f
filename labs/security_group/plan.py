"""The security-group lab's plan: hosts, the data path, and the firewall as neutron lays it.

The rules are those of neutron's ``iptables_hybrid`` firewall driver for one port,
verbatim in shape: ``neutron-openvswi-FORWARD`` sends frames bridged out of the
port's tap (``--physdev-out``, br_netfilter) to ``neutron-openvswi-sg-chain``, which
jumps to the port's ingress chain ``neutron-openvswi-i<port id[:10]>``. That chain
returns (accepts) established flows, ICMP and, when the security group has the rule,
TCP 22; everything else falls to ``neutron-openvswi-sg-fallback``: DROP.
"""

from __future__ import annotations

from labs.core import netns, tenant
from labs.core.host_plan import HostPlan, inventory_entry, ssh_hosts

NS_PREFIX = "ct-sg-"
ROOT_PREFIX = "ctsg-"
MGMT_BRIDGE = f"{ROOT_PREFIX}mgmt"
MGMT_NET = "10.250.22.0/24"
MGMT_GATEWAY = "10.250.22.254/24"
MTU = 1500
UPLINK = "bond0"
MODE = "iptables-hybrid"
PORT_ID = "3f2a9c1e-7b4d-4a8e-9c21-5d6e7f8a9b0c"
TAP = "tap" + PORT_ID[:11]  # tap3f2a9c1e-7b, as nova/os-vif name it
QBR = "qbr" + PORT_ID[:11]
QVB = "qvb" + PORT_ID[:11]
QVO = "qvo" + PORT_ID[:11]
BR_INT = "br-int"
PREFIX = "neutron-openvswi"
IN_CHAIN = f"{PREFIX}-i{PORT_ID[:10]}"
OUT_CHAIN = f"{PREFIX}-o{PORT_ID[:10]}"
FALLBACK = f"{PREFIX}-sg-fallback"
SSH_PORT = 22


CONTROLLER = HostPlan(NS_PREFIX, "controller", "10.250.22.1", "ctsg-ctl", "10.0.0.1", UPLINK)
COMPUTE = HostPlan(NS_PREFIX, "compute", "10.250.22.2", "ctsg-cmp", None, QVB)
INSTANCE_IP = "10.0.0.5"
INSTANCE = HostPlan(NS_PREFIX, "instance", "10.250.22.3", "ctsg-ins", INSTANCE_IP)
OUTSIDE = HostPlan(NS_PREFIX, "outside", "10.250.22.4", "ctsg-out", "203.0.113.10")
HOSTS = (CONTROLLER, COMPUTE, INSTANCE, OUTSIDE)
# the instance's sshd also listens on its tenant address: the port the group must open
SSH_HOSTS = ssh_hosts(HOSTS, also_listen={INSTANCE.name: (INSTANCE_IP,)})


def wire_data_path() -> None:
    """outside -- controller (router) -- bond0 [br-int] qvo==qvb [qbr] tap -- instance."""
    ctl, cmp_, ins, out = (h.netns for h in HOSTS)
    tenant.wire_routed_instance(
        ctl, cmp_, ins, out, tenant_net="10.0.0", instance_ip=INSTANCE_IP, tap=TAP, mtu=MTU
    )

    netns.add_veth(QVB, QVO, ns=cmp_, mtu=MTU)
    netns.add_bridge(QBR, ns=cmp_)
    netns.add_bridge(BR_INT, ns=cmp_)  # a Linux bridge standing in for OVS br-int
    for dev, bridge in ((TAP, QBR), (QVB, QBR), (QVO, BR_INT), (UPLINK, BR_INT)):
        netns.set_master(dev, bridge, ns=cmp_)
    for dev in (TAP, QVB, QVO, UPLINK, QBR, BR_INT):
        netns.link_up(dev, ns=cmp_)


def firewall_rules(allow_ssh: bool) -> str:
    """iptables-restore input: neutron's hybrid driver for the instance's port."""
    tap = f"-m physdev --physdev-out {TAP} --physdev-is-bridged"
    tap_in = f"-m physdev --physdev-in {TAP} --physdev-is-bridged"
    vm = '-m comment --comment "Direct traffic from the VM interface to the security group chain."'
    jump = '-m comment --comment "Jump to the VM specific chain."'
    lines = [
        "*filter",
        ":INPUT ACCEPT [0:0]",
        ":FORWARD ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        *(
            f":{c} - [0:0]"
            for c in (
                "neutron-filter-top",
                f"{PREFIX}-FORWARD",
                f"{PREFIX}-local",
                f"{PREFIX}-sg-chain",
                FALLBACK,
                IN_CHAIN,
                OUT_CHAIN,
            )
        ),
        "-A FORWARD -j neutron-filter-top",
        f"-A FORWARD -j {PREFIX}-FORWARD",
        f"-A neutron-filter-top -j {PREFIX}-local",
        f"-A {PREFIX}-FORWARD {tap} {vm} -j {PREFIX}-sg-chain",
        f"-A {PREFIX}-FORWARD {tap_in} {vm} -j {PREFIX}-sg-chain",
        f"-A {PREFIX}-sg-chain {tap} {jump} -j {IN_CHAIN}",
        f"-A {PREFIX}-sg-chain {tap_in} {jump} -j {OUT_CHAIN}",
        f"-A {PREFIX}-sg-chain -j ACCEPT",
        f"-A {IN_CHAIN} -m state --state RELATED,ESTABLISHED -m comment --comment "
        '"Direct packets associated with a known session to the RETURN chain." -j RETURN',
        f"-A {IN_CHAIN} -p icmp -j RETURN",
    ]
    if allow_ssh:
        lines.append(f"-A {IN_CHAIN} -p tcp -m tcp --dport {SSH_PORT} -j RETURN")
    lines += [
        f"-A {IN_CHAIN} -m state --state INVALID -m comment --comment "
        '"Drop packets that appear related to an existing connection (e.g. TCP ACK/FIN) '
        'but do not have an entry in conntrack." -j DROP',
        f'-A {IN_CHAIN} -m comment --comment "Send unmatched traffic to the fallback chain." '
        f"-j {FALLBACK}",
        f"-A {OUT_CHAIN} -m state --state RELATED,ESTABLISHED -j RETURN",
        f"-A {OUT_CHAIN} -j RETURN",
        f'-A {FALLBACK} -m comment --comment "Default drop rule for unmatched traffic." -j DROP',
        "COMMIT",
    ]
    return "\n".join(lines) + "\n"


def inventory_hosts() -> dict[str, object]:
    hosts: dict[str, object] = {}
    for h in HOSTS:
        host_vars: dict[str, object] = {"ip": h.data_ip}
        if h in (CONTROLLER, COMPUTE):
            host_vars["uplink"] = UPLINK
        host_vars.update(capture_iface=h.capture_iface, mtu=MTU)
        if h is COMPUTE:
            host_vars.update(tap_iface=TAP, bridge=QBR)
        host_vars.update(lab_mode=MODE, netns=h.netns)
        hosts[h.name] = inventory_entry(h, host_vars)
    return hosts
