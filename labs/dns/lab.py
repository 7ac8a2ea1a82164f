"""dns: the tenant network's dnsmasq forwards to a resolver it cannot reach.

Hosts (network namespaces ``ct-dn-*``), each with real OpenSSH on a management
network bridged in the root namespace (``ctdn-mgmt``, 10.250.31.0/24)::

    resolver 198.51.100.53 ── outside 198.51.100.1 / 203.0.113.10 ── eth1 203.0.113.1
    (real dnsmasq, the site DNS)   (the site router)                  controller
                                                    brq-tenant 10.0.100.1 (dnsmasq: DHCP + DNS)
                                                        │ bond0
    instance eth0 10.0.100.5 ── tap0 ── brq-tenant ── bond0 compute

The instance takes its address and its resolver (option 6: 10.0.100.1) from real
dnsmasq on the controller, started as neutron's DHCP agent starts it, with
``--server=198.51.100.53`` from ``dnsmasq_dns_servers``. The site resolver is a second
real dnsmasq in its own namespace (``ct-dn-resolver``), behind the outside router.

- faulty: the network node has no route to the resolvers' network. dnsmasq cannot send
  the query on, and answers the instance at once (dnsmasq 2.90: REFUSED, EDE "network
  error"; its log says "config error is REFUSED").
- ``--healthy``: the route exists; the instance resolves ``www.openstack.org``.
"""

from __future__ import annotations

from pathlib import Path

from labs.core import netns, tenant
from labs.core.base import LabState, Progress
from labs.core.host_plan import mgmt_ports, ssh_hosts
from labs.core.netns_lab import ETC_NETNS, NetnsLab, wire_mgmt_bridge
from labs.dns import plan as p
from labs.services import dhcp

TOOLS = {"dig": "bind9-dnsutils"}  # the instance's and the network node's lookups


def dnsmasq_plan(run_dir: Path) -> dhcp.DnsmasqPlan:
    return dhcp.DnsmasqPlan(
        netns=p.CONTROLLER.netns,
        iface=p.BRIDGE,
        gateway=p.GATEWAY_IP,
        hosts=((p.INSTANCE_MAC, "instance", p.INSTANCE_IP),),
        run_dir=run_dir / "controller" / "dnsmasq",
        conf_text=p.DNSMASQ_NEUTRON_CONF,
        conf_file=f"{p.NEUTRON_DIR}/dnsmasq-neutron.conf",
        conf_written=ETC_NETNS / p.CONTROLLER.netns / "neutron" / "dnsmasq-neutron.conf",
        dns=True,
        upstream=(p.RESOLVER_IP,),
    )


class DnsForwarderLab(NetnsLab):
    name = "dns"
    title = "DNS forwarder unreachable"
    ns_prefix = p.NS_PREFIX
    root_prefix = p.ROOT_PREFIX
    mgmt_bridge = p.MGMT_BRIDGE
    mgmt_net = p.MGMT_NET
    mode = p.MODE
    tools = {"tcpdump": "tcpdump", "ping": "iputils-ping", **TOOLS, **dhcp.TOOLS}
    host_names = tuple(h.name for h in p.HOSTS)

    def _build(self, state: LabState, progress: Progress) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tenant.make_shared_dirs(state, self._state_path)

        progress("creating namespaces")
        names = [h.netns for h in p.HOSTS] + [p.RESOLVER_NS]
        tenant.add_namespaces(names, routers=[p.CONTROLLER.netns, p.OUTSIDE.netns])

        progress("wiring the management network")
        wire_mgmt_bridge(p.MGMT_BRIDGE, p.MGMT_GATEWAY, mgmt_ports(p.HOSTS))
        progress("wiring the tenant network, the outside router and the site resolver")
        self._wire_data_path(state.healthy)

        progress("writing neutron's DHCP agent configuration and nova.conf")
        etc = ETC_NETNS / p.CONTROLLER.netns / "neutron"
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "dhcp_agent.ini").write_text(p.dhcp_agent_ini())
        tenant.write_nova_confs((p.CONTROLLER, p.COMPUTE))

        progress("starting the site resolver (dnsmasq) and the tenant network's dnsmasq")
        resolver_dir = self.run_dir / "resolver"
        resolver_dir.mkdir(parents=True, exist_ok=True)
        netns.run(netns.in_ns(p.RESOLVER_NS, p.resolver_argv(str(resolver_dir))))
        dhcp.start_dnsmasq(dnsmasq_plan(self.run_dir))

        files = self._start_ssh(ssh_hosts(p.HOSTS), progress)
        progress("dhclient on the instance: waiting for a lease")
        dhcp.start_dhclient(p.INSTANCE.netns, "eth0", self.run_dir / "instance", p.INSTANCE_IP)
        self._write_inventory(files)

    def _wire_data_path(self, healthy: bool) -> None:
        ctl, cmp_, ins, out = (h.netns for h in p.HOSTS)
        netns.add_veth("eth0", "eth1", ns=out, peer_ns=ctl)
        netns.add_address("eth0", f"{p.OUTSIDE_IP}/24", ns=out)
        netns.link_up("eth0", ns=out)
        netns.add_route("10.0.100.0/24", "203.0.113.1", ns=out)
        netns.add_address("eth1", "203.0.113.1/24", ns=ctl)
        netns.link_up("eth1", ns=ctl)
        if healthy:  # the network node's route to the site resolvers
            netns.add_route(p.RESOLVER_NET, p.OUTSIDE_IP, ns=ctl)

        netns.add_veth("eth1", "eth0", ns=out, peer_ns=p.RESOLVER_NS)
        netns.add_address("eth1", "198.51.100.1/24", ns=out)
        netns.link_up("eth1", ns=out)
        netns.add_address("eth0", f"{p.RESOLVER_IP}/24", ns=p.RESOLVER_NS)
        netns.link_up("eth0", ns=p.RESOLVER_NS)
        netns.add_route("default", "198.51.100.1", ns=p.RESOLVER_NS)

        netns.add_veth(p.UPLINK, p.UPLINK, ns=ctl, peer_ns=cmp_)
        netns.add_veth("eth0", "tap0", ns=ins, peer_ns=cmp_)
        netns.ip("link", "set", "dev", "eth0", "address", p.INSTANCE_MAC, ns=ins)
        for ns, ports in ((ctl, (p.UPLINK,)), (cmp_, (p.UPLINK, "tap0"))):
            netns.add_bridge(p.BRIDGE, ns=ns)
            for dev in ports:
                netns.set_master(dev, p.BRIDGE, ns=ns)
                netns.link_up(dev, ns=ns)
            netns.link_up(p.BRIDGE, ns=ns)
        netns.add_address(p.BRIDGE, f"{p.GATEWAY_IP}/24", ns=ctl)
        netns.link_up("eth0", ns=ins)

    def _write_inventory(self, files: netns.SshFiles) -> None:
        hosts = tenant.inventory_hosts(p.HOSTS, mode=p.MODE, mtu=1500, instance_mac=p.INSTANCE_MAC)
        self._write_inventory_doc(files, hosts, p.MODE)

    # ------------------------------------------------------------ inspecting

    @staticmethod
    def routed() -> bool:
        out = netns.ip("-4", "route", "show", p.RESOLVER_NET, ns=p.CONTROLLER.netns, check=False)
        return bool(out.stdout.strip())

    def _problems(self, state: LabState) -> list[str]:
        names = [h.netns for h in p.HOSTS] + [p.RESOLVER_NS]
        problems = self._base_problems(names, [h.name for h in p.HOSTS])
        if p.CONTROLLER.netns in netns.namespaces(p.NS_PREFIX) and self.routed() != state.healthy:
            problems.append("the controller's route to the resolvers is not as built")
        if dhcp.dnsmasq_pid(dnsmasq_plan(self.run_dir)) is None:
            problems.append("dnsmasq is not running on the controller")
        return problems + self._inventory_problems()

    def _describe(self, state: LabState) -> list[str]:
        route = "routed" if self.routed() else "NO route"
        return [
            self._summary(state, "healthy (route to the resolvers)", "faulty (no route)"),
            f"controller dnsmasq forwards to {p.RESOLVER_IP} ({route}); "
            f"the site resolver answers {p.NAME} = {p.NAME_IP}",
            self._sshd_line((h.name, h.mgmt_ip) for h in p.HOSTS),
            *self._inventory_lines(),
        ]
