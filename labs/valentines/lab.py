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

- ``bond0``: this kernel has no bonding driver; ``labs/valentines/bond_standin.py`` drives a tap
  named bond0 as an active-backup bond over eth0/eth1, with the driver's carrier
  behaviour and a ``/proc/net/bonding/bond0``-format status file (inventory var
  ``bonding_status``).
- the switches: ``labs/valentines/switch_bpduguard.py`` on each ``Ethernet35`` (a veth), logging
  the tale's EOS lines to a syslog file (inventory var ``switch_log``), read over ssh.
- the instances: namespaces whose eth0 carries nova's ``fa:16:3e`` MACs, plugged into
  br100 through ``tap...`` veths; the faulty centos-test bridges its eth0 into a guest
  ``br0`` with ``stp_state 1``, which sends real 802.1D BPDUs every 2 s.
- identity: libvirt's test driver (``test:///.../node.xml``, inventory var
  ``libvirt_uri``) and the persistent definitions under the compute's
  ``/etc/libvirt/qemu``: nova-style domain XML with each interface's MAC and tap.

- the control plane (``labs/valentines/control.py``): the real OpenStack services from
  ``labs/control_plane`` on a controller (``ct-vd-controller``, mgmt0 10.250.3.1 for
  sshd and the operator's API route; eth1 10.0.100.40 on SW-1's ``Ethernet1``, SW-2 over
  the peer link ``Ethernet49``); nova-compute (``fake.FakeDriver``, host ``server35``)
  in the compute's namespace reaches it only through bond0. The lab writes
  ``clouds.yaml`` (cloud ``valentines-lab``). nova boots centos-test and web-01 on
  server35, and the libvirt definitions carry nova's instance names and UUIDs.

Every mode is built healthy first (nova-compute must report in over bond0); then
centos-test's guest turns STP on (a user "had just launched an instance"), both
switches err-disable their ports, and the lab waits until nova's API lists server35
``down`` (``service_down_time`` 15 s).

``--healthy``: centos-test's br0 keeps STP off, no BPDU leaves, bond0 stays up and
nova lists server35 up.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from engine.errors import CloudtalesError
from labs.control_plane.plane import ControlPlane
from labs.core import netns, tenant
from labs.core.base import LabState, Progress
from labs.core.netns_lab import NetnsLab, no_ipv6
from labs.services import rabbitmq_node
from labs.services.mariadb_server import TOOLS as MARIADB_TOOLS
from labs.valentines import control
from labs.valentines.net import (
    ETC_NETNS,
    bond_carrier,
    process_pid,
    qemu_dir,
    set_guest_stp,
    wait_until,
    wire_compute,
    wire_controller,
    wire_instance,
    wire_management,
    wire_switch,
    write_libvirt,
)
from labs.valentines.plan import (
    BOND,
    CENTOS,
    CLOUD,
    COMPUTE,
    COMPUTE_NAME,
    CONTROLLER,
    DATA_IP,
    INSTANCES,
    MGMT_BRIDGE,
    MGMT_NET,
    MODE,
    NS_PREFIX,
    PORT_LOGICAL,
    ROOT_PREFIX,
    SWITCHES,
    InstancePlan,
    LabPaths,
    SwitchPlan,
)

ETC_LIBVIRT = Path("/etc/libvirt")
ETC_NOVA = Path("/etc/nova")  # ip netns exec binds /etc/netns/NS/nova over it
FAULT_TIMEOUT = 30.0  # hello every 2 s: both switches cut the node within ~5 s
SSH_HOSTS = (
    netns.SshHost(COMPUTE.name, COMPUTE.netns, COMPUTE.mgmt_ip),
    *(netns.SshHost(s.name, s.netns, s.mgmt_ip) for s in SWITCHES),
    netns.SshHost(CONTROLLER.name, CONTROLLER.netns, CONTROLLER.mgmt_ip),
)
NOVA_CONF = "/etc/nova/nova.conf"


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class ValentinesLab(NetnsLab):
    name = "valentines"
    title = "The Valentine's Day Compute Node Massacre"
    ns_prefix = NS_PREFIX
    root_prefix = ROOT_PREFIX
    mgmt_bridge = MGMT_BRIDGE
    mgmt_net = MGMT_NET
    mode = MODE
    tools = {"tcpdump": "tcpdump", "bridge": "iproute2", **MARIADB_TOOLS, **rabbitmq_node.TOOLS}
    host_names = (COMPUTE.name, *(s.name for s in SWITCHES), CONTROLLER.name)
    stop_rounds = 3  # nova's daemons
    stop_timeout = 10.0

    def __init__(self) -> None:
        super().__init__()
        self.paths = LabPaths(self.run_dir)

    # ------------------------------------------------------------ public API

    @property
    def clouds_path(self) -> Path:
        return self.paths.clouds_yaml

    def instances(self) -> tuple[InstancePlan, ...]:
        """The lab's instances under nova's instance names and UUIDs (as built)."""
        state = LabState.load(self._state_path)
        return control.booted(state) if state else INSTANCES

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
        super()._preflight()
        if not Path("/dev/net/tun").exists():
            raise CloudtalesError("/dev/net/tun missing: the bond stand-in needs tun/tap")

    def _build(self, state: LabState, progress: Progress) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.chmod(0o711)
        # recorded and claimed before they are made: down after a crash removes them, and
        # not while another lab's namespaces still bind /etc/netns/NS/{libvirt,nova} there
        tenant.make_shared_dirs(state, self._state_path, (ETC_NETNS, ETC_LIBVIRT, ETC_NOVA))
        plane = control.prepare(self.run_dir, state, progress)
        state.save(self._state_path)
        progress("creating namespaces")
        for ns in self._namespaces():
            netns.add_namespace(ns, no_ipv6())
            netns.link_up("lo", ns=ns)
        progress("wiring the management network (the 1G NICs)")
        wire_management()
        progress("wiring the switches (Ethernet35, BPDU guard) and the controller behind them")
        for sw in SWITCHES:
            wire_switch(self.paths, sw)
        wire_controller()
        progress("building bond0 (stand-in: no bonding driver) and br100")
        wire_compute(self.paths)
        qemu_dir().mkdir(parents=True, exist_ok=True)  # before the compute's sshd
        progress("starting the instances (STP off until the fault)")
        for inst in INSTANCES:
            wire_instance(inst, stp=False)
        rabbit_started = control.start_backends(plane, progress)
        files = self._start_ssh(SSH_HOSTS, progress)
        progress("waiting for bond0 to carry traffic")
        wait_until(lambda: bond_carrier() is True, 10.0, "bond0 did not come up")
        instances = control.bring_up(plane, self.clouds_path, rabbit_started, state, progress)
        progress("writing libvirt domains (nova's instance names)")
        write_libvirt(self.paths, instances)
        if not state.healthy:
            progress(f"{CENTOS.display_name}'s guest turns spanning tree on (the fault)")
            set_guest_stp(CENTOS, on=True)
            progress("waiting for BPDU guard to cut both switch ports")
            wait_until(
                lambda: (
                    bond_carrier() is False
                    and all(self.switch_state(s).get("errdisabled") for s in SWITCHES)
                ),
                FAULT_TIMEOUT,
                "the guest's BPDUs did not err-disable both switch ports",
            )
            control.wait_down(self.clouds_path, state, progress)
        progress("writing inventory")
        self._write_inventory(files, plane)

    def _write_inventory(self, files: netns.SshFiles, plane: ControlPlane) -> None:
        compute_vars = {
            "os_host": COMPUTE_NAME,
            "nova_conf": NOVA_CONF,
            "nova_compute_log": str(plane.compute_log(plane.computes[0])),
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
        controller_vars = {
            "os_cloud": CLOUD,
            "clouds_path": str(self.clouds_path),
            "servers": dict.fromkeys((i.display_name for i in INSTANCES), COMPUTE_NAME),
            "rabbitmq_address": CONTROLLER.data_ip,
            "db_address": CONTROLLER.data_ip,
            "netns": CONTROLLER.netns,
            "ip": CONTROLLER.mgmt_ip,
        }
        hosts[CONTROLLER.name] = {
            "address": CONTROLLER.mgmt_ip,
            "roles": ["controller"],
            "vars": controller_vars,
        }
        self._write_inventory_doc(files, hosts, MODE)

    # ------------------------------------------------------------ inspecting

    @staticmethod
    def _namespaces() -> list[str]:
        switches = [s.netns for s in SWITCHES]
        return [COMPUTE.netns, *switches, CONTROLLER.netns, *(i.netns for i in INSTANCES)]

    def _stop_extras(self, state: LabState | None) -> list[str]:
        return control.stop(self.run_dir, netns.namespaces(NS_PREFIX))

    def _problems(self, state: LabState) -> list[str]:
        """What is missing from the lab (empty when it all runs)."""
        problems = self._base_problems(self._namespaces(), [h.name for h in SSH_HOSTS])
        if process_pid(self.paths.bond_ready) is None:
            problems.append("the bond stand-in is not running")
        for sw in SWITCHES:
            if process_pid(self.paths.switch_ready(sw)) is None:
                problems.append(f"{sw.hostname}: the BPDU-guard emulator is not running")
        if "secrets" not in state.extra or "venv" not in state.extra:
            return [*problems, "build did not get as far as the control plane"]
        if CONTROLLER.netns in netns.namespaces(NS_PREFIX):
            plane = control.plane(self.run_dir, state)
            if plane.db.pid() is None:
                problems.append("mariadbd not running on the controller")
            if not plane.rabbit.pids():
                problems.append("RabbitMQ (beam.smp) not running on the controller")
            problems += plane.problems()
            if not plane.pids(COMPUTE.netns, "nova-compute"):
                problems.append(f"nova-compute not running on {COMPUTE.name}")
        return problems + self._inventory_problems()

    def _describe(self, state: LabState) -> list[str]:
        lines = [
            self._summary(state),
            f"{BOND} is a tap driven by labs/valentines/bond_standin.py (no bonding driver here)",
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
        lines += self._control_lines(state)
        lines.append(self._sshd_line((h.name, h.address) for h in SSH_HOSTS))
        return lines + self._inventory_lines()

    def _control_lines(self, state: LabState) -> list[str]:
        if "secrets" not in state.extra or CONTROLLER.netns not in netns.namespaces(NS_PREFIX):
            return []
        plane = control.plane(self.run_dir, state)
        plane.timings.update(state.extra.get("timings", {}))
        ip = CONTROLLER.data_ip
        lines = [
            f"mariadbd: {ip}:3306 pid {plane.db.pid() or 'dead'}; rabbitmq: {ip}:5672",
            *plane.service_lines(),
            f"{COMPUTE_NAME} reaches {ip} through {BOND} only (the controller sits behind "
            "the switches); service_down_time 15 s",
        ]
        down = state.extra.get("down_after_seconds")
        if down is not None:
            lines.append(f"nova listed {COMPUTE_NAME} down {down} s after both ports went down")
        for inst in control.booted(state):
            lines.append(f"server {inst.display_name}: {inst.uuid} = libvirt {inst.domain}")
        lines.append(f"clouds.yaml: {self.clouds_path} (cloud {CLOUD})")
        return lines
