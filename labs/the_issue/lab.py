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
  joined by ``labs/the_issue/qemu_bridge_bug_emulator.py``, the stand-in for qemu's network
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

import sys
import time
from collections.abc import Callable
from pathlib import Path

from engine.errors import CloudtalesError
from labs.core import netns
from labs.core.base import LabState, Progress
from labs.core.host_plan import inventory_entry, mgmt_ports
from labs.core.netns_lab import NetnsLab, add_namespaces, spawn, wire_mgmt_bridge
from labs.the_issue.hosts import (
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
    NAMESPACES,
    NS_PREFIX,
    ROOT_PREFIX,
    SSH_HOSTS,
    STALL_AFTER,
    TOOLS,
    dhclient_log,
    dhclient_pid_path,
    instance_address,
    start_dhclient,
    start_dnsmasq,
    start_load,
    tap_drops,
    wire_data_path,
)
from labs.the_issue.qemu_bridge_bug_emulator import EmulatorState, read_state


class TheIssueLab(NetnsLab):
    name = "the-issue"
    title = "The Issue"
    ns_prefix = NS_PREFIX
    root_prefix = ROOT_PREFIX
    mgmt_bridge = MGMT_BRIDGE
    mgmt_net = MGMT_NET
    mode = MODE
    tools = TOOLS
    host_names = tuple(h.name for h in HOSTS)

    # ------------------------------------------------------------ paths

    @property
    def emulator_state_path(self) -> Path:
        return self.run_dir / "compute" / "qemu-emulator.json"

    @property
    def dhclient_pid_path(self) -> Path:
        return dhclient_pid_path(self.run_dir)

    @property
    def dhclient_log(self) -> Path:
        return dhclient_log(self.run_dir)

    # ------------------------------------------------------------ life cycle hooks

    def _can_reuse(self, state: LabState, progress: Progress) -> bool:
        if self.dhclient_pid() is not None:
            return True
        progress("the instance has already lost its lease: starting a new night")
        return False

    def _stop_extras(self, state: LabState | None) -> list[str]:
        emulator = read_state(self.emulator_state_path)
        if emulator and "qemu_bridge_bug_emulator" in " ".join(netns.cmdline(emulator.pid)):
            return [f"qemu stand-in pid {p}" for p in netns.stop_pids([emulator.pid])]
        return []

    # ------------------------------------------------------------ building

    def _preflight(self) -> None:
        super()._preflight()
        if not Path("/dev/net/tun").exists():
            raise CloudtalesError("/dev/net/tun missing: the lab needs TAP devices")

    def _build(self, state: LabState, progress: Progress) -> None:
        for host in ("controller", "compute", "instance", "outside"):
            (self.run_dir / host).mkdir(parents=True, exist_ok=True)
        state.save(self._state_path)

        progress("creating namespaces")
        add_namespaces(NAMESPACES, routers=[CONTROLLER.netns])

        progress("wiring the management network")
        wire_mgmt_bridge(MGMT_BRIDGE, MGMT_GATEWAY, mgmt_ports(HOSTS))

        progress("wiring br100, bond0 and the instance's tap")
        wire_data_path()

        progress(f"starting the qemu stand-in ({'patched' if state.healthy else 'LP #997978'})")
        self._start_emulator(state.healthy)

        progress("starting dnsmasq on the controller")
        start_dnsmasq(self.run_dir)

        files = self._start_ssh(SSH_HOSTS, progress)
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
        argv = [sys.executable, "-m", "labs.the_issue.qemu_bridge_bug_emulator",
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
            h.name: inventory_entry(h, {**host_vars[h.name], "netns": h.netns, "lab_mode": MODE})
            for h in HOSTS
        }
        self._write_inventory_doc(files, hosts)

    # ------------------------------------------------------------ inspecting

    def dhclient_pid(self) -> int | None:
        try:
            pid = int(self.dhclient_pid_path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if "dhclient" in " ".join(netns.cmdline(pid)) else None

    def _problems(self, state: LabState) -> list[str]:
        problems = self._base_problems(NAMESPACES, [h.name for h in SSH_HOSTS])
        emulator = read_state(self.emulator_state_path)
        if emulator is None or not netns.pid_alive(emulator.pid):
            problems.append("the qemu stand-in is not running")
        elif (emulator.mode == "fixed") != state.healthy:
            problems.append(f"the qemu stand-in runs {emulator.mode}, not as built")
        return problems + self._inventory_problems()

    def _describe(self, state: LabState) -> list[str]:
        lines = [
            self._summary(state, "healthy (patched qemu)", "faulty (LP #997978)"),
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
        return lines + self._inventory_lines()
