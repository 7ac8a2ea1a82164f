"""How the Valentine's Day lab is wired: the management network, the switches with
their BPDU-guard emulators, the compute node's bond0 stand-in and br100, the
controller's data link behind the switches, the instances and their libvirt
definitions. Called in this order by ``labs/valentines/lab.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from engine.errors import CloudtalesError
from labs.core import netns
from labs.core.netns_lab import wire_mgmt_bridge
from labs.valentines.plan import (
    BOND,
    BOND_MAC,
    COMPUTE,
    CONTROLLER,
    CONTROLLER_PORT,
    DATA_IP,
    INSTANCES,
    MGMT_BRIDGE,
    MGMT_GATEWAY,
    PEER_PORT,
    PORT_DESCRIPTION,
    PORT_LOGICAL,
    PORT_MEMBER,
    SWITCHES,
    InstancePlan,
    LabPaths,
    SwitchPlan,
    domain_xml,
    node_xml,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
ETC_NETNS = Path("/etc/netns")
START_TIMEOUT = 15.0


def wire_management() -> None:
    """The 1G NICs: compute eth2 and each switch's Management1 on a root-ns bridge."""
    mgmt = [(COMPUTE.netns, COMPUTE.root_veth, COMPUTE.mgmt_iface, COMPUTE.mgmt_ip)]
    mgmt += [(s.netns, s.root_veth, "Management1", s.mgmt_ip) for s in SWITCHES]
    mgmt += [(CONTROLLER.netns, CONTROLLER.root_veth, CONTROLLER.mgmt_iface, CONTROLLER.mgmt_ip)]
    wire_mgmt_bridge(MGMT_BRIDGE, MGMT_GATEWAY, mgmt)


def wire_switch(paths: LabPaths, sw: SwitchPlan) -> None:
    """The server port (a veth whose far end is the compute's bond member) in the
    switch's VLAN bridge, and the BPDU-guard emulator watching it."""
    netns.add_veth(sw.member, PORT_MEMBER, ns=COMPUTE.netns, peer_ns=sw.netns)
    netns.ip("link", "set", "dev", sw.member, "address", sw.member_mac, ns=COMPUTE.netns)
    netns.add_bridge(sw.vlan_bridge, ns=sw.netns)
    netns.set_master(PORT_MEMBER, sw.vlan_bridge, ns=sw.netns)
    netns.add_address(sw.vlan_bridge, f"{sw.svi_ip}/24", ns=sw.netns)
    for dev in (PORT_MEMBER, sw.vlan_bridge):
        netns.link_up(dev, ns=sw.netns)
    paths.switch_dir(sw).mkdir(parents=True, exist_ok=True)
    args = {
        "--port": PORT_MEMBER,
        "--logical": PORT_LOGICAL,
        "--description": PORT_DESCRIPTION,
        "--hostname": sw.hostname,
        "--log": str(paths.switch_log(sw)),
        "--state": str(paths.switch_state(sw)),
    }
    start_module(sw.netns, "labs.valentines.switch_bpduguard", args, paths.switch_ready(sw))


def wire_compute(paths: LabPaths) -> None:
    """bond0 (a tap the stand-in drives) over eth0/eth1, in br100 with the compute's IP."""
    ns = COMPUTE.netns
    netns.ip("tuntap", "add", "dev", BOND, "mode", "tap", ns=ns)
    netns.ip("link", "set", "dev", BOND, "address", BOND_MAC, ns=ns)
    for sw in SWITCHES:
        netns.link_up(sw.member, ns=ns)
    netns.add_bridge("br100", ns=ns)
    netns.set_master(BOND, "br100", ns=ns)
    netns.add_address("br100", f"{DATA_IP}/24", ns=ns)
    for dev in (BOND, "br100"):
        netns.link_up(dev, ns=ns)
    paths.bond_status.parent.mkdir(parents=True, exist_ok=True)
    args = {
        "--bond": BOND,
        "--slaves": ",".join(s.member for s in SWITCHES),
        "--status": str(paths.bond_status),
        "--log": str(paths.compute_dir / "bond.log"),
    }
    start_module(ns, "labs.valentines.bond_standin", args, paths.bond_ready)


def wire_controller() -> None:
    """The controller's data NIC on SW-1's Vlan100, and the peer link SW-1 <-> SW-2: the
    compute reaches the control plane through bond0 whichever member is active (never
    through its 1G eth2). The operator's root namespace reaches the APIs on the data
    address through the controller's management NIC (a /32 route on the lab's bridge)."""
    sw1, sw2 = SWITCHES
    netns.add_veth(CONTROLLER.data_iface, CONTROLLER_PORT, ns=CONTROLLER.netns, peer_ns=sw1.netns)
    netns.add_veth(PEER_PORT, PEER_PORT, ns=sw1.netns, peer_ns=sw2.netns)
    for sw, port in ((sw1, CONTROLLER_PORT), (sw1, PEER_PORT), (sw2, PEER_PORT)):
        netns.set_master(port, sw.vlan_bridge, ns=sw.netns)
        netns.link_up(port, ns=sw.netns)
    netns.add_address(CONTROLLER.data_iface, f"{CONTROLLER.data_ip}/24", ns=CONTROLLER.netns)
    netns.link_up(CONTROLLER.data_iface, ns=CONTROLLER.netns)
    api = f"{CONTROLLER.data_ip}/32"
    owner = netns.route_owner(api)
    if owner is not None:
        raise CloudtalesError(f"{api} is already routed via {owner} in the root namespace")
    netns.ip("route", "add", api, "via", CONTROLLER.mgmt_ip, "dev", MGMT_BRIDGE)


def wire_instance(inst: InstancePlan, stp: bool) -> None:
    """The guest: eth0 with nova's MAC, on a tap in br100, bridged into the guest's br0."""
    cmp_ns = COMPUTE.netns
    netns.add_veth(inst.tap, "eth0", ns=cmp_ns, peer_ns=inst.netns)
    netns.set_master(inst.tap, "br100", ns=cmp_ns)
    netns.link_up(inst.tap, ns=cmp_ns)
    netns.ip("link", "set", "dev", "eth0", "address", inst.mac, ns=inst.netns)
    # the guest's own bridge (an image configured for bridged networking)
    netns.add_bridge("br0", ns=inst.netns, stp=stp)
    netns.set_master("eth0", "br0", ns=inst.netns)
    netns.add_address("br0", f"{inst.ip}/24", ns=inst.netns)
    netns.link_up("eth0", ns=inst.netns)
    netns.link_up("br0", ns=inst.netns)


def set_guest_stp(inst: InstancePlan, on: bool) -> None:
    """Spanning tree on the guest's br0 (the faulty image's setting)."""
    netns.ip("link", "set", "dev", "br0", "type", "bridge", "stp_state", "1" if on else "0",
             ns=inst.netns)  # fmt: skip


def qemu_dir() -> Path:
    """Where libvirtd keeps the compute's definitions; it must exist before the
    compute's sshd starts (``ip netns exec`` binds /etc/netns/NS/libvirt at exec)."""
    return ETC_NETNS / COMPUTE.netns / "libvirt" / "qemu"


def write_libvirt(paths: LabPaths, instances: tuple[InstancePlan, ...] = INSTANCES) -> None:
    """The test driver's node file, and the persistent definitions the compute's sshd
    sees at /etc/libvirt/qemu, named as nova named the instances."""
    paths.node_xml.parent.mkdir(parents=True, exist_ok=True)
    paths.node_xml.write_text(node_xml(instances))
    qemu = qemu_dir()
    qemu.mkdir(parents=True, exist_ok=True)
    for old in qemu.glob("*.xml"):
        old.unlink()
    for inst in instances:
        (qemu / f"{inst.domain}.xml").write_text(domain_xml(inst))


def start_module(ns: str, module: str, args: dict[str, str], ready: Path) -> int:
    """Start ``python -m module`` in ``ns`` (detached); wait for the ready file it writes."""
    ready.unlink(missing_ok=True)
    out = ready.with_name(f"{module.rsplit('.', 1)[-1]}.out")
    argv = [sys.executable, "-m", module, "--ready", str(ready)]
    argv += [x for pair in args.items() for x in pair]
    with out.open("w") as log:
        proc = subprocess.Popen(
            netns.in_ns(ns, argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            said = out.read_text().strip().splitlines()[-1:] or ["no output"]
            raise CloudtalesError(f"{module} in {ns} did not start: {said[0]}")
        time.sleep(0.01)
    return proc.pid


def process_pid(ready: Path) -> int | None:
    """The pid an emulator wrote to its ready file, if that process is alive."""
    try:
        pid = int(ready.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if netns.pid_alive(pid) else None


def bond_carrier() -> bool | None:
    """Whether the compute's bond0 has carrier (None: no such link)."""
    out = netns.ip("-j", "link", "show", "dev", BOND, ns=COMPUTE.netns, check=False).stdout
    try:
        entries = json.loads(out or "[]")
    except ValueError:
        return None
    return "LOWER_UP" in entries[0].get("flags", []) if entries else None


def wait_until(cond: Callable[[], bool], timeout: float, failure: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise CloudtalesError(f"{failure} within {timeout:g} s")
        time.sleep(0.05)
