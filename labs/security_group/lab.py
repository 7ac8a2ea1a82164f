"""The security-group incident as a real lab: SSH to an instance times out, ping works.

Hosts (network namespaces ``ct-sg-*``), each with real OpenSSH on a management
network bridged in the root namespace (``ctsg-mgmt``, 10.250.22.0/24)::

    outside eth0 203.0.113.10 ── eth1 203.0.113.1 controller bond0 10.0.0.1
                                                                │
    instance eth0 10.0.0.5 ── tapX [qbrX] qvbX ══ qvoX [br-int] bond0   compute

The compute's firewall is neutron's ``iptables_hybrid`` driver for the instance's
port (``plan.firewall_rules``): real iptables rules matching ``--physdev-out tapX``
through br_netfilter, with conntrack state. Faulty: the security group has no rule
for TCP 22, so the SYN enters qbrX, is counted by the fallback DROP and never reaches
the instance, whose sshd listens on 10.0.0.5:22. ``--healthy``: the group allows 22.
"""

from __future__ import annotations

import time
from pathlib import Path

from engine.errors import CloudtalesError
from labs.core import netns
from labs.core.base import LabState, Progress, quiet
from labs.core.faults import Injection
from labs.core.host_plan import mgmt_ports
from labs.core.netns_lab import NetnsLab, no_ipv6, wire_mgmt_bridge
from labs.security_group import plan
from labs.security_group.plan import (
    COMPUTE,
    CONTROLLER,
    FALLBACK,
    HOSTS,
    IN_CHAIN,
    MGMT_BRIDGE,
    MGMT_GATEWAY,
    MGMT_NET,
    NS_PREFIX,
    ROOT_PREFIX,
    SSH_HOSTS,
)

TOOLS = {"iptables": "iptables", "conntrack": "conntrack", "tcpdump": "tcpdump"}
BRIDGE_NF = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")


def port_allows_ssh() -> bool:
    """Whether the port's ingress chain, as it is now, has the TCP 22 rule."""
    out = netns.run(netns.in_ns(COMPUTE.netns, ["iptables", "-w", "-S", IN_CHAIN]), check=False)
    return "--dport 22 -j RETURN" in out.stdout


def fallback_drops() -> int | None:
    """Packets counted by the fallback chain's DROP rule."""
    out = netns.run(
        netns.in_ns(COMPUTE.netns, ["iptables", "-w", "-L", FALLBACK, "-v", "-x", "-n"]),
        check=False,
    )
    for line in out.stdout.splitlines():
        cols = line.split()
        if len(cols) > 2 and cols[2] == "DROP" and cols[0].isdigit():
            return int(cols[0])
    return None


class SecurityGroupLab(NetnsLab):
    name = "security-group"
    title = "Security group blocks a port"
    ns_prefix = NS_PREFIX
    root_prefix = ROOT_PREFIX
    mgmt_bridge = MGMT_BRIDGE
    mgmt_net = MGMT_NET
    mode = plan.MODE
    tools = TOOLS
    host_names = tuple(h.name for h in HOSTS)

    def _preflight(self) -> None:
        super()._preflight()
        if not BRIDGE_NF.exists():
            raise CloudtalesError(
                "lab security-group: this kernel has no br_netfilter "
                f"({BRIDGE_NF} missing), so iptables cannot see bridged frames"
            )

    def _build(self, state: LabState, progress: Progress) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        progress("creating namespaces")
        for h in HOSTS:
            sysctls = {**no_ipv6()}
            if h is CONTROLLER:
                sysctls["net.ipv4.ip_forward"] = "1"
            if h is COMPUTE:  # br_netfilter: bridged frames cross iptables (per namespace)
                sysctls["net.bridge.bridge-nf-call-iptables"] = "1"
            netns.add_namespace(h.netns, sysctls)
        progress("wiring the management network")
        wire_mgmt_bridge(MGMT_BRIDGE, MGMT_GATEWAY, mgmt_ports(HOSTS))
        progress(f"wiring the data path ({plan.TAP} in {plan.QBR}, {plan.QVB}/{plan.QVO}, br-int)")
        plan.wire_data_path()
        what = "allows TCP 22" if state.healthy else "has no rule for TCP 22"
        progress(f"the port's firewall (iptables_hybrid): the security group {what}")
        netns.run(
            netns.in_ns(COMPUTE.netns, ["iptables-restore", "-w"]),
            input_text=plan.firewall_rules(allow_ssh=state.healthy),
        )
        files = self._start_ssh(SSH_HOSTS, progress)
        progress("writing inventory")
        self._write_inventory_doc(files, plan.inventory_hosts(), state.mode)

    def inject_fault(self, progress: Progress = quiet) -> Injection:
        """``drill --surprise``, in place: the group's tcp/22 rule is deleted, and neutron
        removes its RETURN rule from the port's chain (namespaces, sshd and keys stay)."""
        state = LabState.load(self._state_path)
        if state is None or not state.complete:
            raise CloudtalesError(f"lab {self.name} is not up: nothing to inject a fault into")
        if not state.healthy:
            return Injection(self.name, "already faulty")
        progress(f"compute: removing the tcp/22 rule from {IN_CHAIN}")
        rule = ["-p", "tcp", "-m", "tcp", "--dport", str(plan.SSH_PORT), "-j", "RETURN"]
        netns.run(netns.in_ns(COMPUTE.netns, ["iptables", "-w", "-D", IN_CHAIN, *rule]))
        state.healthy = False
        state.extra["fault_injected_at"] = round(time.time(), 3)
        state.save(self._state_path)
        return Injection(
            self.name, f"compute: the security group lost its tcp/22 rule ({IN_CHAIN})"
        )

    def _problems(self, state: LabState) -> list[str]:
        problems = self._base_problems([h.netns for h in HOSTS], [h.name for h in HOSTS])
        if COMPUTE.netns in netns.namespaces(NS_PREFIX) and port_allows_ssh() != state.healthy:
            problems.append(f"compute: {IN_CHAIN} not as built")
        return problems + self._inventory_problems()

    def _describe(self, state: LabState) -> list[str]:
        lines = [self._summary(state)]
        lines.append(self._sshd_line((h.name, h.mgmt_ip) for h in HOSTS))
        if COMPUTE.netns in netns.namespaces(NS_PREFIX):
            allowed = "allows" if port_allows_ssh() else "does not allow"
            lines.append(f"compute {IN_CHAIN}: {allowed} TCP 22")
            lines.append(f"compute {FALLBACK}: {fallback_drops()} packets dropped")
        return lines + self._inventory_lines()
