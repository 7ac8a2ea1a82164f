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

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from engine.errors import CloudtalesError
from labs import netns, vlan_bpf
from labs.base import RUN_ROOT, LabInfo, LabState, LabStatus, Progress, quiet

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
ETC_NETNS = Path("/etc/netns")
NOVA_DIR = Path("/etc/nova")
NOVA_CONF = "/etc/nova/nova.conf"
UPLINK = "bond0"


@dataclass(frozen=True)
class HostPlan:
    name: str
    mgmt_ip: str
    root_veth: str
    data_ip: str | None
    capture_iface: str
    uplink: bool = False
    nova: bool = False

    @property
    def netns(self) -> str:
        return NS_PREFIX + self.name


CONTROLLER = HostPlan("controller", "10.250.1.1", "ctdv-ctl", "10.0.100.1", UPLINK, True, True)
COMPUTE = HostPlan("compute", "10.250.1.2", "ctdv-cmp", None, UPLINK, True, True)
INSTANCE_IP = "10.0.100.5"
INSTANCE = HostPlan("instance", "10.250.1.3", "ctdv-ins", INSTANCE_IP, "eth0")
OUTSIDE = HostPlan("outside", "10.250.1.4", "ctdv-out", "203.0.113.10", "eth0")
HOSTS = (CONTROLLER, COMPUTE, INSTANCE, OUTSIDE)
# the instance's sshd also listens on its tenant address, as the tale's instance did:
# from outside, `ssh root@10.0.100.5 ps aux` logs in fine and then hangs when faulty
SSH_HOSTS = tuple(
    netns.SshHost(h.name, h.netns, h.mgmt_ip, also_listen=(INSTANCE_IP,) if h is INSTANCE else ())
    for h in HOSTS
)


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


def _rmdir_if_empty(path: Path) -> bool:
    try:
        path.rmdir()
    except OSError:
        return False
    return True


class DoubleVlanLab:
    name = "double-vlan"
    title = "Double VLAN"

    def __init__(self, mode: str | None = None) -> None:
        if mode not in (None, TC_BPF, KERNEL_VLAN):
            raise CloudtalesError(f"unknown lab mode {mode!r} (known: {TC_BPF}, {KERNEL_VLAN})")
        self.forced_mode = mode
        self.run_dir = RUN_ROOT / self.name

    # ------------------------------------------------------------ public API

    def inventory_path(self) -> Path:
        return self.run_dir / "inventory.yaml"

    def up(self, healthy: bool = False, progress: Progress = quiet) -> LabInfo:
        self._preflight()
        state = LabState.load(self._state_path)
        if state and state.complete:
            mode = self.forced_mode or state.mode
            if (state.mode, state.healthy) == (mode, healthy) and not self._problems(state):
                progress("lab already up")
                return self._info(state)
        else:
            progress("probing the kernel for 802.1Q")
            mode = self.forced_mode or (
                KERNEL_VLAN if vlan_bpf.kernel_has_8021q(PROBE_NS) else TC_BPF
            )
        if state or netns.namespaces(NS_PREFIX) or netns.links(prefix=ROOT_PREFIX):
            progress("removing the previous lab")
            self.down()
        started = time.monotonic()
        state = LabState(mode=mode, healthy=healthy)
        self._build(state, progress)
        state.complete = True
        state.extra["up_seconds"] = round(time.monotonic() - started, 3)
        state.save(self._state_path)
        return self._info(state)

    def down(self) -> list[str]:
        netns.require_root("the double-vlan lab")
        netns.require_tools({"ip": "iproute2"})
        removed: list[str] = []
        state = LabState.load(self._state_path)
        removed += [f"sshd pid {pid}" for pid in netns.stop_sshds(self.run_dir)]
        for ns in netns.namespaces(NS_PREFIX):
            removed += [f"pid {pid} in {ns}" for pid in netns.stop_pids(netns.namespace_pids(ns))]
            netns.delete_namespace(ns)
            removed.append(f"namespace {ns}")
        for dev in netns.links(prefix=ROOT_PREFIX):  # the bridge, and veths whose peer lingers
            netns.delete_link(dev)
            removed.append(f"link {dev}")
        for d in sorted(ETC_NETNS.glob(NS_PREFIX + "*")):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(str(d))
        for created in reversed(state.created_paths if state else []):
            if _rmdir_if_empty(Path(created)):  # someone else may have used it since
                removed.append(created)
        if self.run_dir.exists():
            shutil.rmtree(self.run_dir, ignore_errors=True)
            removed.append(str(self.run_dir))
        for parent in (RUN_ROOT, RUN_ROOT.parent):  # shared with other labs
            _rmdir_if_empty(parent)
        return removed

    def status(self) -> LabStatus:
        state = LabState.load(self._state_path)
        present = netns.namespaces(NS_PREFIX)
        details = [f"namespaces: {', '.join(present) or 'none'}"]
        if state is None:
            running = False
            if present:
                details.append("no state file: a half-built lab, run down")
        else:
            problems = self._problems(state)
            running = state.complete and not problems
            details += self._describe(state)
            if not state.complete:
                details.append("build did not finish: run down (or up again)")
            details += [f"problem: {p}" for p in problems]
        return LabStatus(
            name=self.name,
            running=running,
            mode=state.mode if state else None,
            healthy=state.healthy if state else None,
            details=details,
        )

    # ------------------------------------------------------------ building

    @property
    def _state_path(self) -> Path:
        return self.run_dir / "state.json"

    def _preflight(self) -> None:
        netns.require_root("the double-vlan lab")
        netns.require_tools({**netns.BASE_TOOLS, **vlan_bpf.TOOLS})
        vlan_bpf.require_toolchain()
        owner = netns.route_owner(MGMT_NET)
        if owner not in (None, MGMT_BRIDGE):
            raise CloudtalesError(
                f"{MGMT_NET} is already routed via {owner}: the lab's management network clashes"
            )

    def _build(self, state: LabState, progress: Progress) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # recorded before creating them, so down after a crash removes them too
        state.created_paths = [str(d) for d in (ETC_NETNS, NOVA_DIR) if not d.exists()]
        state.save(self._state_path)
        for d in (ETC_NETNS, NOVA_DIR):  # ip netns exec binds /etc/netns/NS/nova over /etc/nova
            d.mkdir(exist_ok=True)

        progress("compiling tc-BPF vlan program")
        compiled = vlan_bpf.compile_program(self.run_dir, PLAN)
        state.extra["compile_seconds"] = round(compiled.seconds, 3)

        progress("creating namespaces")
        no_ipv6 = {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}
        if not Path("/proc/sys/net/ipv6").exists():
            no_ipv6 = {}
        for h in HOSTS:
            forward = {"net.ipv4.ip_forward": "1"} if h is CONTROLLER else {}
            netns.add_namespace(h.netns, {**no_ipv6, **forward})

        progress("wiring the management network")
        netns.add_bridge(MGMT_BRIDGE)
        netns.add_address(MGMT_BRIDGE, MGMT_GATEWAY)
        netns.link_up(MGMT_BRIDGE)
        for h in HOSTS:
            netns.add_veth(h.root_veth, "mgmt0", peer_ns=h.netns)
            netns.set_master(h.root_veth, MGMT_BRIDGE)
            netns.link_up(h.root_veth)
            netns.add_address("mgmt0", f"{h.mgmt_ip}/24", ns=h.netns)
            netns.link_up("mgmt0", ns=h.netns)

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
        for h in HOSTS:
            if h.nova:
                conf = ETC_NETNS / h.netns / "nova" / "nova.conf"
                conf.parent.mkdir(parents=True, exist_ok=True)
                conf.write_text(nova_conf(h, state.healthy))

        progress("generating ssh keys")
        files = netns.prepare_ssh(self.run_dir, SSH_HOSTS, comment="cloudtales-double-vlan")
        progress(f"starting sshd x{len(SSH_HOSTS)}")
        netns.start_sshds(self.run_dir, SSH_HOSTS)

        progress("writing inventory")
        self._write_inventory(state, files)

    def _wire_data_path(self, state: LabState) -> None:
        ctl, cmp_, ins, out = (h.netns for h in HOSTS)
        # one skb = one wire frame (no TSO/GSO super-packets), so the hop-MTU check in
        # vlan_bpf.c judges TCP as a NIC would: without this even healthy TCP would stall
        wire = {"mtu": MTU, "gso_max_segs": 1}
        netns.add_veth("eth0", "eth1", ns=out, peer_ns=ctl, **wire)
        netns.add_address("eth0", "203.0.113.10/24", ns=out)
        netns.link_up("eth0", ns=out)
        netns.add_route("10.0.100.0/24", "203.0.113.1", ns=out)
        netns.add_address("eth1", "203.0.113.1/24", ns=ctl)
        netns.link_up("eth1", ns=ctl)

        netns.add_veth(UPLINK, UPLINK, ns=ctl, peer_ns=cmp_, **wire)
        netns.add_address(UPLINK, "10.0.100.1/24", ns=ctl)
        netns.link_up(UPLINK, ns=ctl)

        netns.add_veth("eth0", "tap0", ns=ins, peer_ns=cmp_, **wire)
        netns.add_address("eth0", f"{INSTANCE_IP}/24", ns=ins)
        netns.link_up("eth0", ns=ins)
        netns.add_route("default", "10.0.100.1", ns=ins)

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
            if h.uplink:
                host_vars["uplink"] = UPLINK
            host_vars.update(capture_iface=h.capture_iface, mtu=MTU)
            if h.nova:
                host_vars["nova_conf"] = NOVA_CONF
            host_vars.update(lab_mode=state.mode, netns=h.netns)
            hosts[h.name] = {"address": h.mgmt_ip, "port": 22, "roles": [h.name], "vars": host_vars}
        doc = {
            "name": "double-vlan-lab",
            "ssh": {
                "known_hosts": str(files.known_hosts),
                "client_keys": [str(files.client_key)],
                "username": "root",
            },
            "hosts": hosts,
        }
        header = f"# written by `cloudtales lab up {self.name}` ({state.mode})\n"
        self.inventory_path().write_text(header + yaml.safe_dump(doc, sort_keys=False))

    # ------------------------------------------------------------ inspecting

    def _info(self, state: LabState) -> LabInfo:
        return LabInfo(
            name=self.name,
            inventory_path=self.inventory_path(),
            mode=state.mode,
            healthy=state.healthy,
            hosts=[h.name for h in HOSTS],
        )

    def _problems(self, state: LabState) -> list[str]:
        """What is missing from a lab built with ``state`` (empty when it all works)."""
        problems: list[str] = []
        present = set(netns.namespaces(NS_PREFIX))
        missing = [h.netns for h in HOSTS if h.netns not in present]
        if missing:
            problems.append(f"namespaces missing: {', '.join(missing)}")
        if MGMT_BRIDGE not in netns.links(prefix=ROOT_PREFIX):
            problems.append(f"management bridge {MGMT_BRIDGE} missing")
        dead = [h.name for h in HOSTS if netns.sshd_pid(self.run_dir, h.name) is None]
        if dead:
            problems.append(f"sshd not running on: {', '.join(dead)}")
        for host, want in expected_programs(state.mode, state.healthy).items():
            ns = NS_PREFIX + host
            if ns in present and vlan_bpf.attached(ns, UPLINK) != want:
                problems.append(f"{host} {UPLINK}: tc-BPF programs not as built")
        if state.mode == KERNEL_VLAN and COMPUTE.netns in present:
            lower = netns.link_parent("vlan100", ns=COMPUTE.netns)
            if lower != self._vlan100_lower(state.healthy):
                problems.append(f"compute: vlan100 is on {lower or 'nothing'}, not as built")
        if not self.inventory_path().exists():
            problems.append(f"{self.inventory_path()} missing")
        return problems

    def _describe(self, state: LabState) -> list[str]:
        timings = {"up_seconds": "built in", "compile_seconds": "tc-BPF compiled in"}
        summary = [state.mode, "healthy" if state.healthy else "faulty"]
        summary += [
            f"{what} {state.extra[key]} s" for key, what in timings.items() if key in state.extra
        ]
        lines = [
            ", ".join(summary),
            f"{UPLINK} is a veth named like the tale's bond (no bonding driver here)",
        ]
        pids = [
            f"{h.name} {h.mgmt_ip}:22 pid {netns.sshd_pid(self.run_dir, h.name) or 'dead'}"
            for h in HOSTS
        ]
        lines.append("sshd: " + ", ".join(pids))
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
        if self.inventory_path().exists():
            lines.append(f"inventory: {self.inventory_path()}")
        return lines
