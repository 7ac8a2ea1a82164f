"""The "The Issue" tale as a real lab: DHCP renewals lost under heavy network IO.

Hosts (network namespaces ``ct-ti-*``), with real OpenSSH on the management
network ``ctti-mgmt`` (10.250.2.0/24) on the controller, the compute node and the
instance::

    outside eth0 203.0.113.10 ── eth1 203.0.113.1 controller br100 10.0.0.1 (dnsmasq)
                                                      │ bond0 (veth)
    instance eth0 (TAP) ~~ qemu stand-in ~~ tap0 ── br100 compute

* The controller runs real ``dnsmasq`` the way nova-network did: a static range,
  a hosts file mapping the instance's MAC to 10.0.0.5, and nova's lease of 120 s
  on the command line (``--dhcp-range=...,120s``). dnsmasq will not hand out
  anything shorter: its documented minimum is two minutes (a ``20s`` range is
  served as ``2m``; measured).
* The instance runs the real ``dhclient -1`` as ifupdown does, with the real
  ``dhclient-script``. ``-1`` is why dhclient *exits* when it cannot get a lease
  back, as in the tale ("dhclient is not running after The Issue happens").
  Drill clock: the instance's dhclient.conf supersedes the lease with 20 s
  (renew at 10 s, rebind at 17 s) and gives up 6 s after expiry, so a night of
  The Issue fits in half a minute. The server side is not touched.
* The compute node's ``tap0`` and the instance's ``eth0`` are real TAP devices
  joined by ``labs/qemu_bridge_bug_emulator.py``, the stand-in for qemu's network
  backend with the bridged-network stall of LP #997978.
* ``outside`` runs the nightly backup: real ``iperf3`` (UDP, 40 Mbit/s) into the
  instance's ``iperf3 -s``.

Faulty: under that load the qemu stand-in stops draining ``tap0``; the kernel
drops what queues behind it, the controller's ACKs never arrive, dhclient
retries, broadcasts to 255.255.255.255, lets the lease expire and exits: the
instance has no address. ``--healthy`` is the patched qemu under the same load.
``up`` returns once the load runs (and, when faulty, the stall has begun), with
the instance's lease still valid: the drill catches The Issue in action.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from engine.errors import CloudtalesError
from labs import netns
from labs.base import RUN_ROOT, LabInfo, LabState, LabStatus, Progress, quiet
from labs.qemu_bridge_bug_emulator import EmulatorState, read_state
from labs.the_issue_hosts import (
    COMPUTE,
    CONTROLLER,
    DRILL_GIVE_UP,
    DRILL_LEASE,
    DRILL_REBIND,
    DRILL_RENEW,
    GATEWAY_IP,
    HOSTS,
    INSTANCE,
    INSTANCE_IP,
    INSTANCE_MAC,
    LEASE_SECONDS,
    LOAD_MBITS,
    MGMT_BRIDGE,
    MGMT_GATEWAY,
    MGMT_NET,
    MODE,
    NS_PREFIX,
    ROOT_PREFIX,
    SSH_HOSTS,
    STALL_AFTER,
    TOOLS,
    dhclient_log,
    dhclient_pid_path,
    instance_address,
    spawn,
    start_dhclient,
    start_dnsmasq,
    start_load,
    tap_drops,
    wire_data_path,
)


def _rmdir_if_empty(path: Path) -> bool:
    try:
        path.rmdir()
    except OSError:
        return False
    return True


class TheIssueLab:
    name = "the-issue"
    title = "The Issue"

    def __init__(self) -> None:
        self.run_dir = RUN_ROOT / self.name

    # ------------------------------------------------------------ paths

    def inventory_path(self) -> Path:
        return self.run_dir / "inventory.yaml"

    @property
    def _state_path(self) -> Path:
        return self.run_dir / "state.json"

    @property
    def emulator_state_path(self) -> Path:
        return self.run_dir / "compute" / "qemu-emulator.json"

    @property
    def dhclient_pid_path(self) -> Path:
        return dhclient_pid_path(self.run_dir)

    @property
    def dhclient_log(self) -> Path:
        return dhclient_log(self.run_dir)

    # ------------------------------------------------------------ public API

    def up(self, healthy: bool = False, progress: Progress = quiet) -> LabInfo:
        self._preflight()
        state = LabState.load(self._state_path)
        if state and state.complete and state.healthy == healthy and not self._problems(state):
            if self.dhclient_pid() is not None:
                progress("lab already up")
                return self._info(state)
            progress("the instance has already lost its lease: starting a new night")
        if state or netns.namespaces(NS_PREFIX) or netns.links(prefix=ROOT_PREFIX):
            progress("removing the previous lab")
            self.down()
        started = time.monotonic()
        state = LabState(mode=MODE, healthy=healthy)
        self._build(state, progress)
        state.complete = True
        state.extra["up_seconds"] = round(time.monotonic() - started, 3)
        state.save(self._state_path)
        return self._info(state)

    def down(self) -> list[str]:
        netns.require_root("the the-issue lab")
        netns.require_tools({"ip": "iproute2"})
        removed: list[str] = []
        removed += [f"sshd pid {pid}" for pid in netns.stop_sshds(self.run_dir)]
        emulator = read_state(self.emulator_state_path)
        if emulator and "qemu_bridge_bug_emulator" in " ".join(netns.cmdline(emulator.pid)):
            removed += [f"qemu stand-in pid {p}" for p in netns.stop_pids([emulator.pid])]
        for ns in netns.namespaces(NS_PREFIX):
            removed += [f"pid {pid} in {ns}" for pid in netns.stop_pids(netns.namespace_pids(ns))]
            netns.delete_namespace(ns)
            removed.append(f"namespace {ns}")
        for dev in netns.links(prefix=ROOT_PREFIX):
            netns.delete_link(dev)
            removed.append(f"link {dev}")
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

    def _preflight(self) -> None:
        netns.require_root("the the-issue lab")
        netns.require_tools({**netns.BASE_TOOLS, **TOOLS})
        if not Path("/dev/net/tun").exists():
            raise CloudtalesError("/dev/net/tun missing: the lab needs TAP devices")
        owner = netns.route_owner(MGMT_NET)
        if owner not in (None, MGMT_BRIDGE):
            raise CloudtalesError(
                f"{MGMT_NET} is already routed via {owner}: the lab's management network clashes"
            )

    def _build(self, state: LabState, progress: Progress) -> None:
        for host in ("controller", "compute", "instance", "outside"):
            (self.run_dir / host).mkdir(parents=True, exist_ok=True)
        state.save(self._state_path)

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
            if h.root_veth is None or h.mgmt_ip is None:
                continue
            netns.add_veth(h.root_veth, "mgmt0", peer_ns=h.netns)
            netns.set_master(h.root_veth, MGMT_BRIDGE)
            netns.link_up(h.root_veth)
            netns.add_address("mgmt0", f"{h.mgmt_ip}/24", ns=h.netns)
            netns.link_up("mgmt0", ns=h.netns)

        progress("wiring br100, bond0 and the instance's tap")
        wire_data_path()

        progress(f"starting the qemu stand-in ({'patched' if state.healthy else 'LP #997978'})")
        self._start_emulator(state.healthy)

        progress("starting dnsmasq on the controller")
        start_dnsmasq(self.run_dir)

        progress("generating ssh keys")
        files = netns.prepare_ssh(self.run_dir, SSH_HOSTS, comment="cloudtales-the-issue")
        progress(f"starting sshd x{len(SSH_HOSTS)}")
        netns.start_sshds(self.run_dir, SSH_HOSTS)
        progress("writing inventory")
        self._write_inventory(files)

        progress("dhclient -1 on the instance: waiting for a lease")
        start_dhclient(self.run_dir)
        progress(f"the nightly backup: iperf3 {LOAD_MBITS} Mbit/s into the instance")
        start_load(self.run_dir, self.emulator_state_path)
        if state.healthy:
            self._wait_emulator(lambda s: s.high_for >= STALL_AFTER + 0.5, 20)
            progress("load running; the patched qemu keeps delivering")
        else:
            self._wait_emulator(lambda s: s.stalled, 20)
            progress("load running; the qemu stand-in has stalled: tap0 is no longer drained")

    def _start_emulator(self, healthy: bool) -> None:
        argv = [sys.executable, "-m", "labs.qemu_bridge_bug_emulator",
                "--host-ns", COMPUTE.netns, "--host-tap", "tap0",
                "--guest-ns", INSTANCE.netns, "--guest-nic", "eth0",
                "--state", str(self.emulator_state_path),
                "--stall-after", str(STALL_AFTER)]  # fmt: skip
        if healthy:
            argv.append("--fixed")
        spawn(None, argv, self.run_dir / "compute" / "qemu-emulator.log")
        self._wait_emulator(lambda s: True, 10, "the qemu stand-in did not start")

    def _wait_emulator(
        self, ready: Callable[[EmulatorState], bool], timeout: float, what: str = ""
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = read_state(self.emulator_state_path)
            if st is not None and ready(st):
                return
            if st is not None and not netns.pid_alive(st.pid):
                break
            time.sleep(0.05)
        log = self.run_dir / "compute" / "qemu-emulator.log"
        said = log.read_text().strip().splitlines()[-1:] if log.exists() else []
        raise CloudtalesError(
            (what or "the qemu stand-in did not reach the expected state")
            + (f": {said[0]}" if said else f" within {timeout:g} s")
        )

    def _write_inventory(self, files: netns.SshFiles) -> None:
        host_vars: dict[str, dict[str, object]] = {
            "controller": {"ip": GATEWAY_IP, "capture_iface": "br100", "dhcp_iface": "br100"},
            "compute": {"capture_iface": "br100", "tap_iface": "tap0", "bridge": "br100"},
            "instance": {
                "ip": INSTANCE_IP,
                "capture_iface": "eth0",
                "dhcp_iface": "eth0",
                "mac": INSTANCE_MAC,
            },  # fmt: skip
        }
        hosts = {
            h.name: {
                "address": h.mgmt_ip,
                "port": 22,
                "roles": [h.name],
                "vars": {**host_vars[h.name], "netns": h.netns, "lab_mode": MODE},
            }
            for h in HOSTS
            if h.mgmt_ip is not None
        }
        doc = {
            "name": "the-issue-lab",
            "ssh": {
                "known_hosts": str(files.known_hosts),
                "client_keys": [str(files.client_key)],
                "username": "root",
            },
            "hosts": hosts,
        }
        header = f"# written by `cloudtales lab up {self.name}`\n"
        self.inventory_path().write_text(header + yaml.safe_dump(doc, sort_keys=False))

    # ------------------------------------------------------------ inspecting

    def _info(self, state: LabState) -> LabInfo:
        return LabInfo(
            name=self.name,
            inventory_path=self.inventory_path(),
            mode=state.mode,
            healthy=state.healthy,
            hosts=[h.name for h in HOSTS if h.mgmt_ip is not None],
        )

    def dhclient_pid(self) -> int | None:
        try:
            pid = int(self.dhclient_pid_path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if "dhclient" in " ".join(netns.cmdline(pid)) else None

    def _problems(self, state: LabState) -> list[str]:
        problems: list[str] = []
        present = set(netns.namespaces(NS_PREFIX))
        missing = [h.netns for h in HOSTS if h.netns not in present]
        if missing:
            problems.append(f"namespaces missing: {', '.join(missing)}")
        if MGMT_BRIDGE not in netns.links(prefix=ROOT_PREFIX):
            problems.append(f"management bridge {MGMT_BRIDGE} missing")
        dead = [h.name for h in SSH_HOSTS if netns.sshd_pid(self.run_dir, h.name) is None]
        if dead:
            problems.append(f"sshd not running on: {', '.join(dead)}")
        emulator = read_state(self.emulator_state_path)
        if emulator is None or not netns.pid_alive(emulator.pid):
            problems.append("the qemu stand-in is not running")
        elif (emulator.mode == "fixed") != state.healthy:
            problems.append(f"the qemu stand-in runs {emulator.mode}, not as built")
        if not self.inventory_path().exists():
            problems.append(f"{self.inventory_path()} missing")
        return problems

    def _describe(self, state: LabState) -> list[str]:
        lines = [
            f"{state.mode}, {'healthy (patched qemu)' if state.healthy else 'faulty (LP #997978)'}"
            + (f", built in {state.extra['up_seconds']} s" if "up_seconds" in state.extra else ""),
            f"dnsmasq lease {LEASE_SECONDS} s (its minimum); drill clock on the instance: "
            f"lease {DRILL_LEASE} s, renew {DRILL_RENEW} s, rebind {DRILL_REBIND} s, "
            f"gives up {DRILL_GIVE_UP} s after expiry",
        ]
        emulator = read_state(self.emulator_state_path)
        if emulator is not None:
            stall = (
                f"stalled since {time.strftime('%H:%M:%S', time.localtime(emulator.stalled_at))}"
                if emulator.stalled and emulator.stalled_at
                else "delivering"
            )
            lines.append(
                f"qemu stand-in pid {emulator.pid} ({emulator.mode}): {stall}; "
                f"{emulator.to_guest_frames} frames to the guest, "
                f"{emulator.rate_to_guest / 1e6:.1f} MB/s now"
            )
        drops = tap_drops()
        if drops is not None:
            lines.append(f"compute tap0: {drops} frames dropped (TX)")
        pid = self.dhclient_pid()
        lines.append(f"instance dhclient: {'pid ' + str(pid) if pid else 'not running'}")
        lines.append(f"instance eth0: {instance_address() or 'no IPv4 address'}")
        if self.inventory_path().exists():
            lines.append(f"inventory: {self.inventory_path()}")
        return lines
