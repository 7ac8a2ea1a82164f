"""overlay-mtu: a VXLAN tenant network over a 1500-byte underlay, the instance at 1500.

Hosts (network namespaces ``ct-om-*``), each with real OpenSSH on a management
network bridged in the root namespace (``ctom-mgmt``, 10.250.23.0/24)::

    outside eth0 203.0.113.10 ── eth1 203.0.113.1 controller (router, dnsmasq)
                                   brq-tenant 10.0.100.1 ── vxlan-5 ── bond0 192.168.50.1
                                                                        │ underlay, MTU 1500
    instance eth0 10.0.100.5 ── tap0 ── brq-tenant ── vxlan-5 ── bond0 192.168.50.2 compute

The tenant network is a real kernel VXLAN (VNI 5, UDP 4789) bridged as neutron's
linuxbridge agent bridges it. The kernel caps a VXLAN device at its underlay's MTU
minus 50 bytes of encapsulation (1450), and the compute sets the tap to the network's
1450 as the agent does. The instance gets its address from real dnsmasq on the
controller (dhclient, option 26 applied by dhclient-script):

- faulty: the DHCP agent's ``dnsmasq_config_file`` lacks ``dhcp-option-force=26,1450``,
  so the instance keeps 1500. Its full-size frames are dropped at the tap (a veth drops
  what exceeds its peer's MTU): small packets pass, large ones vanish without an ICMP.
- ``--healthy``: the file has the line, the instance runs at 1450 and nothing is lost.

IPv6 is off in the lab namespaces, so captures hold only the tale's traffic.
"""

from __future__ import annotations

from pathlib import Path

from labs.core import netns, tenant
from labs.core.base import LabState, Progress
from labs.core.host_plan import mgmt_ports, ssh_hosts
from labs.core.netns_lab import ETC_NETNS, NetnsLab, wire_mgmt_bridge
from labs.overlay_mtu import plan as p
from labs.services import dhcp


def dnsmasq_plan(run_dir: Path, healthy: bool) -> dhcp.DnsmasqPlan:
    conf = f"{p.NEUTRON_DIR}/dnsmasq-neutron.conf"
    return dhcp.DnsmasqPlan(
        netns=p.CONTROLLER.netns,
        iface=p.BRIDGE,
        gateway=p.GATEWAY_IP,
        hosts=((p.INSTANCE_MAC, "instance", p.INSTANCE_IP),),
        run_dir=run_dir / "controller" / "dnsmasq",
        conf_text=p.dnsmasq_neutron_conf(healthy),
        conf_file=conf,
        conf_written=ETC_NETNS / p.CONTROLLER.netns / "neutron" / "dnsmasq-neutron.conf",
    )


def vxlan(ns: str, local: str, remote: str) -> None:
    """``vxlan-5`` on bond0 (the kernel sets its MTU to bond0's minus 50) in the bridge."""
    netns.ip("link", "add", p.VXLAN_DEV, "type", "vxlan", "id", str(p.VNI),
             "dstport", str(p.VXLAN_PORT), "local", local, "remote", remote,
             "dev", p.UPLINK, ns=ns)  # fmt: skip
    netns.add_bridge(p.BRIDGE, ns=ns)
    netns.set_master(p.VXLAN_DEV, p.BRIDGE, ns=ns)
    for dev in (p.VXLAN_DEV, p.BRIDGE):
        netns.link_up(dev, ns=ns)


class OverlayMtuLab(NetnsLab):
    name = "overlay-mtu"
    title = "Overlay MTU exceeds the underlay"
    ns_prefix = p.NS_PREFIX
    root_prefix = p.ROOT_PREFIX
    mgmt_bridge = p.MGMT_BRIDGE
    mgmt_net = p.MGMT_NET
    mode = p.MODE
    tools = {"tcpdump": "tcpdump", "ping": "iputils-ping", **dhcp.TOOLS}
    host_names = tuple(h.name for h in p.HOSTS)

    def _build(self, state: LabState, progress: Progress) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tenant.make_shared_dirs(state, self._state_path)

        progress("creating namespaces")
        tenant.add_namespaces([h.netns for h in p.HOSTS], routers=[p.CONTROLLER.netns])

        progress("wiring the management network")
        wire_mgmt_bridge(p.MGMT_BRIDGE, p.MGMT_GATEWAY, mgmt_ports(p.HOSTS))
        progress("wiring the underlay (bond0, MTU 1500) and VXLAN 5 on both nodes")
        self._wire_data_path()

        progress("writing neutron's configuration on the controller, nova.conf on both nodes")
        etc = ETC_NETNS / p.CONTROLLER.netns / "neutron"
        (etc / "plugins" / "ml2").mkdir(parents=True, exist_ok=True)
        (etc / "neutron.conf").write_text(p.neutron_conf())
        (etc / "plugins" / "ml2" / "ml2_conf.ini").write_text(p.ml2_conf())
        tenant.write_nova_confs((p.CONTROLLER, p.COMPUTE))
        plan = dnsmasq_plan(self.run_dir, state.healthy)
        (etc / "dhcp_agent.ini").write_text(p.dhcp_agent_ini(plan.conf_file))
        option = " (option 26)" if state.healthy else " (no option 26)"
        progress("starting dnsmasq on the tenant network" + option)
        dhcp.start_dnsmasq(plan)

        files = self._start_ssh(ssh_hosts(p.HOSTS), progress)
        progress("dhclient on the instance: waiting for a lease")
        dhcp.start_dhclient(p.INSTANCE.netns, "eth0", self.run_dir / "instance", p.INSTANCE_IP)
        progress(f"instance eth0 MTU {self.instance_mtu()}")
        self._write_inventory(files)

    def _wire_data_path(self) -> None:
        ctl, cmp_, ins, out = (h.netns for h in p.HOSTS)
        netns.add_veth("eth0", "eth1", ns=out, peer_ns=ctl)
        netns.add_address("eth0", f"{p.OUTSIDE_IP}/24", ns=out)
        netns.link_up("eth0", ns=out)
        netns.add_route("10.0.100.0/24", "203.0.113.1", ns=out)
        netns.add_address("eth1", "203.0.113.1/24", ns=ctl)
        netns.link_up("eth1", ns=ctl)

        netns.add_veth(p.UPLINK, p.UPLINK, ns=ctl, peer_ns=cmp_, mtu=p.UNDERLAY_MTU)
        for ns, ip in ((ctl, p.CONTROLLER_UNDERLAY), (cmp_, p.COMPUTE_UNDERLAY)):
            netns.add_address(p.UPLINK, f"{ip}/24", ns=ns)
            netns.link_up(p.UPLINK, ns=ns)
        vxlan(ctl, p.CONTROLLER_UNDERLAY, p.COMPUTE_UNDERLAY)
        vxlan(cmp_, p.COMPUTE_UNDERLAY, p.CONTROLLER_UNDERLAY)
        netns.add_address(p.BRIDGE, f"{p.GATEWAY_IP}/24", ns=ctl)

        # the tap at the network's MTU (as the agent sets it); the guest side at 1500
        netns.add_veth("eth0", "tap0", ns=ins, peer_ns=cmp_)
        netns.ip("link", "set", "dev", "tap0", "mtu", str(p.NETWORK_MTU), ns=cmp_)
        netns.ip("link", "set", "dev", "eth0", "address", p.INSTANCE_MAC, ns=ins)
        netns.set_master("tap0", p.BRIDGE, ns=cmp_)
        netns.link_up("tap0", ns=cmp_)
        netns.link_up("eth0", ns=ins)

    def _write_inventory(self, files: netns.SshFiles) -> None:
        hosts = tenant.inventory_hosts(
            p.HOSTS, mode=p.MODE, mtu=p.UNDERLAY_MTU, instance_mac=p.INSTANCE_MAC
        )
        self._write_inventory_doc(files, hosts, p.MODE)

    # ------------------------------------------------------------ inspecting

    @staticmethod
    def instance_mtu() -> int | None:
        out = netns.ip("-o", "link", "show", "dev", "eth0", ns=p.INSTANCE.netns, check=False)
        words = out.stdout.split()
        return int(words[words.index("mtu") + 1]) if "mtu" in words else None

    def _problems(self, state: LabState) -> list[str]:
        problems = self._base_problems([h.netns for h in p.HOSTS], [h.name for h in p.HOSTS])
        if p.INSTANCE.netns in netns.namespaces(p.NS_PREFIX):
            want = p.NETWORK_MTU if state.healthy else p.UNDERLAY_MTU
            got = self.instance_mtu()
            if got != want:
                problems.append(f"instance eth0 MTU {got}, not {want} as built")
        if dhcp.dnsmasq_pid(dnsmasq_plan(self.run_dir, state.healthy)) is None:
            problems.append("dnsmasq is not running on the controller")
        return problems + self._inventory_problems()

    def _describe(self, state: LabState) -> list[str]:
        return [
            self._summary(state, "healthy (option 26 = 1450)", "faulty (no option 26)"),
            f"VXLAN {p.VNI} on a {p.UNDERLAY_MTU}-byte underlay: network MTU {p.NETWORK_MTU}; "
            f"instance eth0 MTU {self.instance_mtu()}",
            self._sshd_line((h.name, h.mgmt_ip) for h in p.HOSTS),
            *self._inventory_lines(),
        ]
