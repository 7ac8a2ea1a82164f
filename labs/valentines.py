"""The "Valentine's Day Compute Node Massacre" as a real lab.

A guest bridge with spanning tree on sends BPDUs; both top-of-rack switches have BPDU
guard on the server port and err-disable it; the compute node's bond0 goes DOWN while
its 1G management NIC stays up, so it still answers ping and SSH.

Hosts (network namespaces ``ct-vd-*``), real OpenSSH on a management network bridged
in the root namespace (``ctvd-mgmt``, 10.250.3.0/24)::

    SW-1 (ct-vd-sw1) Ethernet35 ── eth0 ┐                       ┌ tap3f2a9c1e-7b ─ centos-test
      Management1 10.250.3.11          bond0 ── br100 (compute) ─┤  (fa:16:3e:24:e7:22, STP on)
    SW-2 (ct-vd-sw2) Ethernet35 ── eth1 ┘   10.0.100.35         └ tap8d41b6a0-2c ─ web-01
      Management1 10.250.3.12              eth2 10.250.3.2 (the 1G management NIC)

- ``bond0``: this kernel has no bonding driver; ``labs/bond_standin.py`` drives a tap
  named bond0 as an active-backup bond over eth0/eth1, with the driver's carrier
  behaviour and a ``/proc/net/bonding/bond0``-format status file (inventory var
  ``bonding_status``).
- the switches: ``labs/switch_bpduguard.py`` on each ``Ethernet35`` (a veth), logging
  the tale's EOS lines to a syslog file (inventory var ``switch_log``), read over ssh.
- the instances: namespaces whose eth0 carries nova's ``fa:16:3e`` MACs, plugged into
  br100 through ``tap...`` veths; the faulty centos-test bridges its eth0 into a guest
  ``br0`` with ``stp_state 1``, which sends real 802.1D BPDUs every 2 s.
- identity: libvirt's test driver (``test:///.../node.xml``, inventory var
  ``libvirt_uri``) and the persistent definitions under the compute's
  ``/etc/libvirt/qemu``: nova-style domain XML with each interface's MAC and tap.

``--healthy``: centos-test's br0 has STP off, no BPDU leaves, bond0 stays up.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import yaml

from engine.errors import CloudtalesError
from labs import netns
from labs.base import RUN_ROOT, LabInfo, LabState, LabStatus, Progress, quiet
from labs.valentines_net import (
    ETC_NETNS,
    bond_carrier,
    process_pid,
    wait_until,
    wire_compute,
    wire_instance,
    wire_management,
    wire_switch,
    write_libvirt,
)
from labs.valentines_plan import (
    BOND,
    COMPUTE,
    COMPUTE_NAME,
    DATA_IP,
    INSTANCES,
    MGMT_BRIDGE,
    MGMT_NET,
    MODE,
    NS_PREFIX,
    PORT_LOGICAL,
    ROOT_PREFIX,
    SWITCHES,
    LabPaths,
    SwitchPlan,
)

ETC_LIBVIRT = Path("/etc/libvirt")
NO_IPV6 = {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}
FAULT_TIMEOUT = 30.0  # hello every 2 s: both switches cut the node within ~5 s
SSH_HOSTS = (
    netns.SshHost(COMPUTE.name, COMPUTE.netns, COMPUTE.mgmt_ip),
    *(netns.SshHost(s.name, s.netns, s.mgmt_ip) for s in SWITCHES),
)


def _rmdir_if_empty(path: Path) -> bool:
    try:
        path.rmdir()
    except OSError:
        return False
    return True


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class ValentinesLab:
    name = "valentines"
    title = "The Valentine's Day Compute Node Massacre"

    def __init__(self) -> None:
        self.run_dir = RUN_ROOT / self.name
        self.paths = LabPaths(self.run_dir)

    def inventory_path(self) -> Path:
        return self.paths.inventory

    # ------------------------------------------------------------ public API

    def up(self, healthy: bool = False, progress: Progress = quiet) -> LabInfo:
        self._preflight()
        state = LabState.load(self.paths.state)
        if state and state.complete and state.healthy == healthy and not self._problems():
            progress("lab already up")
            return self._info(state)
        if state or netns.namespaces(NS_PREFIX) or netns.links(prefix=ROOT_PREFIX):
            progress("removing the previous lab")
            self.down()
        started = time.monotonic()
        state = LabState(mode=MODE, healthy=healthy)
        self._build(state, progress)
        state.complete = True
        state.extra["up_seconds"] = round(time.monotonic() - started, 3)
        state.save(self.paths.state)
        return self._info(state)

    def down(self) -> list[str]:
        netns.require_root("the valentines lab")
        netns.require_tools({"ip": "iproute2"})
        removed: list[str] = []
        state = LabState.load(self.paths.state)
        removed += [f"sshd pid {pid}" for pid in netns.stop_sshds(self.run_dir)]
        for ns in netns.namespaces(NS_PREFIX):  # the emulators and the stand-in run in these
            removed += [f"pid {pid} in {ns}" for pid in netns.stop_pids(netns.namespace_pids(ns))]
            netns.delete_namespace(ns)
            removed.append(f"namespace {ns}")
        for dev in netns.links(prefix=ROOT_PREFIX):
            netns.delete_link(dev)
            removed.append(f"link {dev}")
        for d in sorted(ETC_NETNS.glob(NS_PREFIX + "*")):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(str(d))
        for created in reversed(state.created_paths if state else []):
            if _rmdir_if_empty(Path(created)):
                removed.append(created)
        if self.run_dir.exists():
            shutil.rmtree(self.run_dir, ignore_errors=True)
            removed.append(str(self.run_dir))
        for parent in (RUN_ROOT, RUN_ROOT.parent):
            _rmdir_if_empty(parent)
        return removed

    def status(self) -> LabStatus:
        state = LabState.load(self.paths.state)
        present = netns.namespaces(NS_PREFIX)
        details = [f"namespaces: {', '.join(present) or 'none'}"]
        if state is None:
            running = False
            if present:
                details.append("no state file: a half-built lab, run down")
        else:
            problems = self._problems()
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

    def switch_state(self, sw: SwitchPlan) -> dict[str, object]:
        """What the BPDU-guard emulator on ``sw`` says about its port."""
        return _read_json(self.paths.switch_state(sw))

    def recover_switch_port(self, sw: SwitchPlan) -> None:
        """The operator's ``shutdown`` / ``no shutdown`` on the err-disabled port."""
        pid = process_pid(self.paths.switch_ready(sw))
        if pid is None:
            raise CloudtalesError(f"{sw.hostname}: the BPDU-guard emulator is not running")
        os.kill(pid, signal.SIGUSR1)

    # ------------------------------------------------------------ building

    def _preflight(self) -> None:
        netns.require_root("the valentines lab")
        netns.require_tools({**netns.BASE_TOOLS, "tcpdump": "tcpdump", "bridge": "iproute2"})
        if not Path("/dev/net/tun").exists():
            raise CloudtalesError("/dev/net/tun missing: the bond stand-in needs tun/tap")
        owner = netns.route_owner(MGMT_NET)
        if owner not in (None, MGMT_BRIDGE):
            raise CloudtalesError(
                f"{MGMT_NET} is already routed via {owner}: the lab's management network clashes"
            )

    def _build(self, state: LabState, progress: Progress) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # recorded before creating them, so down after a crash removes them too
        state.created_paths = [str(d) for d in (ETC_NETNS, ETC_LIBVIRT) if not d.exists()]
        state.save(self.paths.state)
        for d in (ETC_NETNS, ETC_LIBVIRT):  # ip netns exec binds /etc/netns/NS/libvirt here
            d.mkdir(exist_ok=True)
        progress("creating namespaces")
        no_ipv6 = NO_IPV6 if Path("/proc/sys/net/ipv6").exists() else {}
        for ns in (COMPUTE.netns, *(s.netns for s in SWITCHES), *(i.netns for i in INSTANCES)):
            netns.add_namespace(ns, no_ipv6)
        progress("wiring the management network (the 1G NICs)")
        wire_management()
        progress("wiring the switches (Ethernet35, BPDU guard)")
        for sw in SWITCHES:
            wire_switch(self.paths, sw)
        progress("building bond0 (stand-in: no bonding driver) and br100")
        wire_compute(self.paths)
        progress("writing libvirt domains")
        write_libvirt(self.paths)
        progress(f"starting the instances ({'STP off' if state.healthy else 'guest STP on'})")
        for inst in INSTANCES:
            wire_instance(inst, stp=inst.faulty and not state.healthy)
        progress("generating ssh keys")
        files = netns.prepare_ssh(self.run_dir, SSH_HOSTS, comment="cloudtales-valentines")
        progress(f"starting sshd x{len(SSH_HOSTS)}")
        netns.start_sshds(self.run_dir, SSH_HOSTS)
        if state.healthy:
            progress("waiting for bond0 to carry traffic")
            wait_until(lambda: bond_carrier() is True, 10.0, "bond0 did not come up")
        else:
            progress("waiting for BPDU guard to cut both switch ports")
            wait_until(
                lambda: (
                    bond_carrier() is False
                    and all(self.switch_state(s).get("errdisabled") for s in SWITCHES)
                ),
                FAULT_TIMEOUT,
                "the guest's BPDUs did not err-disable both switch ports",
            )
        progress("writing inventory")
        self._write_inventory(files)

    def _write_inventory(self, files: netns.SshFiles) -> None:
        compute_vars = {
            "uplink": BOND,
            "bonding_status": str(self.paths.bond_status),
            "libvirt_uri": f"test://{self.paths.node_xml}",
            "compute_name": COMPUTE_NAME,
            "mgmt_iface": COMPUTE.mgmt_iface,
            "ip": DATA_IP,
            "netns": COMPUTE.netns,
        }
        hosts: dict[str, object] = {
            COMPUTE.name: {"address": COMPUTE.mgmt_ip, "roles": ["compute"], "vars": compute_vars}
        }
        for sw in SWITCHES:
            switch_vars = {
                "switch_log": str(self.paths.switch_log(sw)),
                "hostname": sw.hostname,
                "server_port": PORT_LOGICAL,
                "netns": sw.netns,
            }
            hosts[sw.name] = {"address": sw.mgmt_ip, "roles": ["switch"], "vars": switch_vars}
        doc = {
            "name": "valentines-lab",
            "ssh": {
                "known_hosts": str(files.known_hosts),
                "client_keys": [str(files.client_key)],
                "username": "root",
            },
            "hosts": hosts,
        }
        header = f"# written by `cloudtales lab up {self.name}` ({MODE})\n"
        self.paths.inventory.write_text(header + yaml.safe_dump(doc, sort_keys=False))

    # ------------------------------------------------------------ inspecting

    def _info(self, state: LabState) -> LabInfo:
        return LabInfo(
            name=self.name,
            inventory_path=self.paths.inventory,
            mode=state.mode,
            healthy=state.healthy,
            hosts=[COMPUTE.name, *(s.name for s in SWITCHES)],
        )

    def _problems(self) -> list[str]:
        """What is missing from the lab (empty when it all runs)."""
        problems: list[str] = []
        present = set(netns.namespaces(NS_PREFIX))
        wanted = [COMPUTE.netns, *(s.netns for s in SWITCHES), *(i.netns for i in INSTANCES)]
        missing = [ns for ns in wanted if ns not in present]
        if missing:
            problems.append(f"namespaces missing: {', '.join(missing)}")
        if MGMT_BRIDGE not in netns.links(prefix=ROOT_PREFIX):
            problems.append(f"management bridge {MGMT_BRIDGE} missing")
        dead = [h.name for h in SSH_HOSTS if netns.sshd_pid(self.run_dir, h.name) is None]
        if dead:
            problems.append(f"sshd not running on: {', '.join(dead)}")
        if process_pid(self.paths.bond_ready) is None:
            problems.append("the bond stand-in is not running")
        for sw in SWITCHES:
            if process_pid(self.paths.switch_ready(sw)) is None:
                problems.append(f"{sw.hostname}: the BPDU-guard emulator is not running")
        if not self.paths.inventory.exists():
            problems.append(f"{self.paths.inventory} missing")
        return problems

    def _describe(self, state: LabState) -> list[str]:
        built = [f"built in {state.extra['up_seconds']} s"] if "up_seconds" in state.extra else []
        lines = [
            ", ".join([state.mode, "healthy" if state.healthy else "faulty", *built]),
            f"{BOND} is a tap driven by labs/bond_standin.py (no bonding driver here)",
        ]
        carrier = bond_carrier()
        if carrier is not None:
            lines.append(f"compute {BOND}: {'carrier' if carrier else 'NO-CARRIER (DOWN)'}")
        for sw in SWITCHES:
            st = self.switch_state(sw)
            if st:
                what = (
                    f"err-disabled ({st.get('cause')}, BPDU from {st.get('source_mac')})"
                    if st.get("errdisabled")
                    else "up"
                )
                lines.append(f"{sw.hostname} {PORT_LOGICAL}: {what}")
        sshd = [
            f"{h.name} {h.address}:22 pid {netns.sshd_pid(self.run_dir, h.name) or 'dead'}"
            for h in SSH_HOSTS
        ]
        lines.append("sshd: " + ", ".join(sshd))
        if self.paths.inventory.exists():
            lines.append(f"inventory: {self.paths.inventory}")
        return lines
