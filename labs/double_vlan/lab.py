"""The "Double VLAN" tale as a real lab: tenant VLAN 100 stacked on vlan20.

Hosts (network namespaces ``ct-dv-*``), each with real OpenSSH on a management
network bridged in the root namespace (``ctdv-mgmt``, 10.250.1.0/24)::

    outside eth0 203.0.113.10 ── eth1 203.0.113.1 controller bond0 10.0.100.1
                                                     │ (veth, MTU 1500: the uplink)
    instance eth0 10.0.100.5 ── tap0 ┐               │
                                 br100 ─────── bond0 compute

The compute tags what it sends to the controller with VLAN 100 on top of
VLAN 20 (``vlan_interface=vlan20`` in its nova.conf), four bytes too many for
the 1500-MTU hop: the controller drops every reply over 1496 bytes of IP, so
``ping -M do -s 1472`` from outside fails while ``-s 1468`` works. ``--healthy``
tags with VLAN 100 only (``vlan_interface=bond0``) and both pings work.

Modes:
  ``tc-bpf``       (kernels without CONFIG_VLAN_8021Q): the tags are pushed and
                   popped by ``vlan_bpf.c`` on both bond0s, whose ingress also
                   plays the 1500-MTU port (see that file).
  ``kernel-vlan``  real ``vlan20``/``vlan100`` devices on the compute; the
                   controller keeps the tc-BPF side. UNTESTED HERE: the machine
                   this was written on has no 802.1Q.

There is no bonding driver either: ``bond0`` is a veth named like the tale's bond.
IPv6 is off in the lab namespaces, so captures hold only the tale's traffic.
"""

from __future__ import annotations

from pathlib import Path

from engine.errors import CloudtalesError
from labs.core import netns, tenant
from labs.core.base import LabState, Progress
from labs.core.host_plan import HostPlan, inventory_entry, mgmt_ports, ssh_hosts
from labs.core.netns_lab import ETC_NETNS as ETC_NETNS  # re-exported: labs/core/faults.py uses it
from labs.core.netns_lab import NetnsLab, add_namespaces, wire_mgmt_bridge
from labs.double_vlan import vlan_bpf

TC_BPF = "tc-bpf"
KERNEL_VLAN = "kernel-vlan"

NS_PREFIX = "ct-dv-"
ROOT_PREFIX = "ctdv-"  # links this lab puts in the root namespace
PROBE_NS = f"{NS_PREFIX}probe"
MGMT_BRIDGE = f"{ROOT_PREFIX}mgmt"
MGMT_NET = "10.250.1.0/24"
MGMT_GATEWAY = "10.250.1.254/24"
MTU = 1500
PLAN = vlan_bpf.VlanPlan(tenant_vid=100, outer_vid=20, hop_mtu=MTU)
NOVA_DIR = Path("/etc/nova")
NOVA_CONF = "/etc/nova/nova.conf"
UPLINK = "bond0"


CONTROLLER = HostPlan(NS_PREFIX, "controller", "10.250.1.1", "ctdv-ctl", "10.0.100.1", UPLINK)
COMPUTE = HostPlan(NS_PREFIX, "compute", "10.250.1.2", "ctdv-cmp", None, UPLINK)
INSTANCE_IP = "10.0.100.5"
INSTANCE = HostPlan(NS_PREFIX, "instance", "10.250.1.3", "ctdv-ins", INSTANCE_IP)
OUTSIDE = HostPlan(NS_PREFIX, "outside", "10.250.1.4", "ctdv-out", "203.0.113.10")
HOSTS = (CONTROLLER, COMPUTE, INSTANCE, OUTSIDE)
NOVA_HOSTS = (CONTROLLER, COMPUTE)  # on the uplink, with a nova.conf
# the instance's sshd also listens on its tenant address, as the tale's instance did:
# from outside, `ssh root@10.0.100.5 ps aux` logs in fine and then hangs when faulty
SSH_HOSTS = ssh_hosts(HOSTS, also_listen={INSTANCE.name: (INSTANCE_IP,)})


def nova_conf(host: HostPlan, healthy: bool) -> str:
    if host is COMPUTE:
        vlan_interface, public_interface = ("bond0" if healthy else "vlan20"), "vlan20"
    else:
        vlan_interface, public_interface = "bond0", "eth1"
    return (
        "[DEFAULT]\n"
        f"my_ip={host.mgmt_ip}\n"
        "network_manager=nova.network.manager.VlanManager\n"
        f"vlan_interface={vlan_interface}\n"
        f"vlan_start={PLAN.tenant_vid}\n"
        "flat_interface=bond0\n"
        f"public_interface={public_interface}\n"
        "fixed_range=10.0.100.0/24\n"
        "multi_host=False\n"
    )


def expected_programs(mode: str, healthy: bool) -> dict[str, dict[str, str]]:
    """host -> {direction: section} of the tc-BPF programs on its bond0."""
    stacked = vlan_bpf.PUSH_TENANT if healthy else vlan_bpf.PUSH_TENANT_ON_OUTER
    if mode == TC_BPF:
        return {
            COMPUTE.name: {"egress": stacked, "ingress": vlan_bpf.CHECK_POP},
            CONTROLLER.name: {"egress": vlan_bpf.PUSH_TENANT, "ingress": vlan_bpf.CHECK_POP},
        }
    # kernel-vlan: the compute's real vlan100@vlan20 only hears frames tagged 20 then
    # 100, so the controller (standing in for the switch's trunk) sends what it expects
    return {CONTROLLER.name: {"egress": stacked, "ingress": vlan_bpf.CHECK_POP}}


class DoubleVlanLab(NetnsLab):
    name = "double-vlan"
    title = "Double VLAN"
    ns_prefix = NS_PREFIX
    root_prefix = ROOT_PREFIX
    mgmt_bridge = MGMT_BRIDGE
    mgmt_net = MGMT_NET
    tools = vlan_bpf.TOOLS
    host_names = tuple(h.name for h in HOSTS)

    def __init__(self, mode: str | None = None) -> None:
        if mode not in (None, TC_BPF, KERNEL_VLAN):
            raise CloudtalesError(f"unknown lab mode {mode!r} (known: {TC_BPF}, {KERNEL_VLAN})")
        super().__init__()
        self.forced_mode = mode

    # ------------------------------------------------------------ building

    def _preflight(self) -> None:
        super()._preflight()
        vlan_bpf.require_toolchain()

    def _choose_mode(self, state: LabState | None, progress: Progress) -> str:
        if state and state.complete:
            return self.forced_mode or state.mode
        progress("probing the kernel for 802.1Q")
        return self.forced_mode or (KERNEL_VLAN if vlan_bpf.kernel_has_8021q(PROBE_NS) else TC_BPF)

    def _build(self, state: LabState, progress: Progress) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # ip netns exec binds /etc/netns/NS/nova over /etc/nova
        tenant.make_shared_dirs(state, self._state_path, (ETC_NETNS, NOVA_DIR))

        progress("compiling tc-BPF vlan program")
        compiled = vlan_bpf.compile_program(self.run_dir, PLAN)
        state.extra["compile_seconds"] = round(compiled.seconds, 3)

        progress("creating namespaces")
        add_namespaces([h.netns for h in HOSTS], routers=[CONTROLLER.netns])

        progress("wiring the management network")
        wire_mgmt_bridge(MGMT_BRIDGE, MGMT_GATEWAY, mgmt_ports(HOSTS))

        progress("wiring the data path (bond0, br100, tap0)")
        self._wire_data_path(state)

        progress(
            "attaching tc-BPF vlan programs"
            if state.mode == TC_BPF
            else "creating vlan20/vlan100 and attaching the controller's tc-BPF program"
        )
        if state.mode == KERNEL_VLAN:
            self._kernel_vlans(state.healthy)
        for host, progs in expected_programs(state.mode, state.healthy).items():
            vlan_bpf.attach(
                NS_PREFIX + host,
                UPLINK,
                compiled.obj,
                egress=progs["egress"],
                ingress=progs["ingress"],
            )

        progress("writing nova.conf")
        for h in NOVA_HOSTS:
            conf = ETC_NETNS / h.netns / "nova" / "nova.conf"
            conf.parent.mkdir(parents=True, exist_ok=True)
            conf.write_text(nova_conf(h, state.healthy))

        files = self._start_ssh(SSH_HOSTS, progress)
        progress("writing inventory")
        self._write_inventory(state, files)

    def _wire_data_path(self, state: LabState) -> None:
        ctl, cmp_, ins, out = (h.netns for h in HOSTS)
        # one skb = one wire frame (no TSO/GSO super-packets), so the hop-MTU check in
        # vlan_bpf.c judges TCP as a NIC would: without this even healthy TCP would stall
        tenant.wire_routed_instance(
            ctl,
            cmp_,
            ins,
            out,
            tenant_net="10.0.100",
            instance_ip=INSTANCE_IP,
            mtu=MTU,
            gso_max_segs=1,
        )

        netns.add_bridge("br100", ns=cmp_)
        netns.set_master("tap0", "br100", ns=cmp_)
        if state.mode == TC_BPF:  # the tags are added on bond0 itself
            netns.set_master(UPLINK, "br100", ns=cmp_)
        for dev in ("tap0", UPLINK, "br100"):
            netns.link_up(dev, ns=cmp_)

    @staticmethod
    def _vlan100_lower(healthy: bool) -> str:
        return UPLINK if healthy else "vlan20"

    @staticmethod
    def _kernel_vlans(healthy: bool) -> None:
        """UNTESTED HERE (no 802.1Q): vlan100@vlan20 (faulty) or vlan100@bond0, in br100."""
        ns = COMPUTE.netns
        netns.ip("link", "add", "link", UPLINK, "name", "vlan20", "type", "vlan", "id", "20", ns=ns)
        lower = DoubleVlanLab._vlan100_lower(healthy)
        netns.ip(
            "link", "add", "link", lower, "name", "vlan100", "type", "vlan", "id", "100", ns=ns
        )
        netns.set_master("vlan100", "br100", ns=ns)
        for dev in ("vlan20", "vlan100"):
            netns.link_up(dev, ns=ns)

    def _write_inventory(self, state: LabState, files: netns.SshFiles) -> None:
        hosts = {}
        for h in HOSTS:
            host_vars: dict[str, object] = {"ip": h.data_ip}
            if h in NOVA_HOSTS:
                host_vars["uplink"] = UPLINK
            host_vars.update(capture_iface=h.capture_iface, mtu=MTU)
            if h in NOVA_HOSTS:
                host_vars["nova_conf"] = NOVA_CONF
            host_vars.update(lab_mode=state.mode, netns=h.netns)
            hosts[h.name] = inventory_entry(h, host_vars)
        self._write_inventory_doc(files, hosts, state.mode)

    # ------------------------------------------------------------ inspecting

    def _problems(self, state: LabState) -> list[str]:
        problems = self._base_problems([h.netns for h in HOSTS], [h.name for h in HOSTS])
        present = set(netns.namespaces(NS_PREFIX))
        for host, want in expected_programs(state.mode, state.healthy).items():
            ns = NS_PREFIX + host
            if ns in present and vlan_bpf.attached(ns, UPLINK) != want:
                problems.append(f"{host} {UPLINK}: tc-BPF programs not as built")
        if state.mode == KERNEL_VLAN and COMPUTE.netns in present:
            lower = netns.link_parent("vlan100", ns=COMPUTE.netns)
            if lower != self._vlan100_lower(state.healthy):
                problems.append(f"compute: vlan100 is on {lower or 'nothing'}, not as built")
        return problems + self._inventory_problems()

    def _describe(self, state: LabState) -> list[str]:
        summary = self._summary(state)
        if "compile_seconds" in state.extra:
            summary += f", tc-BPF compiled in {state.extra['compile_seconds']} s"
        lines = [
            summary,
            f"{UPLINK} is a veth named like the tale's bond (no bonding driver here)",
        ]
        lines.append(self._sshd_line((h.name, h.mgmt_ip) for h in HOSTS))
        present = set(netns.namespaces(NS_PREFIX))
        for host in expected_programs(state.mode, state.healthy):
            ns = NS_PREFIX + host
            if ns not in present:
                continue
            progs = vlan_bpf.attached(ns, UPLINK)
            drops = vlan_bpf.clsact_drops(ns, UPLINK)
            lines.append(
                f"{host} {UPLINK} tc-BPF: egress {progs.get('egress', 'none')}, "
                f"ingress {progs.get('ingress', 'none')}; {drops or 0} frames dropped "
                f"(over {MTU} + 18 bytes on the wire)"
            )
        if state.mode == KERNEL_VLAN:
            lower = netns.link_parent("vlan100", ns=COMPUTE.netns)
            lines.append(f"compute: vlan100@{lower}" if lower else "compute: no vlan100")
        conf = ETC_NETNS / COMPUTE.netns / "nova" / "nova.conf"
        if conf.exists():
            setting = next(
                (ln for ln in conf.read_text().splitlines() if ln.startswith("vlan_interface")),
                "no vlan_interface",
            )
            lines.append(f"compute {NOVA_CONF}: {setting}")
        return lines + self._inventory_lines()
