"""neighbour-overflow: the network node has more neighbours than gc_thresh3 allows.

Hosts (network namespaces ``ct-no-*``), each with real OpenSSH on a management
network bridged in the root namespace (``ctno-mgmt``, 10.250.34.0/24)::

    outside 203.0.113.10 ── eth1 203.0.113.1  controller (the tenant router)
                                              brq-tenant 10.0.100.1
                                                  │ bond0
    instance eth0 10.0.100.5 ── tap0 ── brq-tenant ── bond0 compute
    ports    eth0 10.0.100.100-199 ── tap1 ──┘

The tenant network has 100 more ports (``ct-no-ports``: one namespace holding their
addresses) and the router talks to each of them all the time (``heartbeat.py``: a UDP
datagram to every port each half second), so it keeps 100 neighbour entries in use.

- faulty: the ARP table's GLOBAL thresholds ``gc_thresh1/2/3`` are lowered to 16/32/64
  while the lab is up (``labs.core.global_setting``: saved, locked, restored on down
  and after a crash; the machine's own entries pinned meanwhile, see ``pins``). The
  router's entries fill the table, forced garbage collection finds nothing to evict, and
  every new entry fails ("neighbour: arp_cache: neighbor table overflow!"): the router
  cannot resolve the instance, so nothing from outside reaches it.
- ``--healthy``: the thresholds untouched (1024 here); the same 100 neighbours fit.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from engine.errors import CloudtalesError
from labs.core import netns, tenant
from labs.core.base import LabState, LabStatus, Progress
from labs.core.global_setting import GlobalSetting
from labs.core.netns_lab import NetnsLab, wire_mgmt_bridge
from labs.neighbour_overflow import pins
from labs.neighbour_overflow import plan as p

HEARTBEAT_SCRIPT = Path(__file__).with_name("heartbeat.py")
HEARTBEAT_WAIT = 10.0  # s for the heartbeat's third round to report

THRESHOLDS = GlobalSetting(
    "neigh-gc-thresh", p.THRESH_PATHS, undo=lambda extra: pins.unpin(pins.from_extra(extra))
)


def router_alive() -> bool:
    return (Path("/run/netns") / p.CONTROLLER.netns).exists()


def heartbeat_running() -> bool:
    script = str(HEARTBEAT_SCRIPT)
    return any(script in netns.cmdline(pid) for pid in netns.namespace_pids(p.CONTROLLER.netns))


def restore_orphaned_thresholds() -> dict[str, int] | None:
    """Lowered thresholds whose lab is gone come back (see ``global_setting``)."""
    return THRESHOLDS.restore_orphaned(router_alive)


class NeighbourOverflowLab(NetnsLab):
    name = "neighbour-overflow"
    title = "Neighbour (ARP) table overflow on the network node"
    ns_prefix = p.NS_PREFIX
    root_prefix = p.ROOT_PREFIX
    mgmt_bridge = p.MGMT_BRIDGE
    mgmt_net = p.MGMT_NET
    mode = p.MODE
    tools = {"tcpdump": "tcpdump", "ping": "iputils-ping"}  # `ip ntable`: iproute2 (base)
    host_names = tuple(h.name for h in p.HOSTS)

    def _build(self, state: LabState, progress: Progress) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tenant.make_shared_dirs(state, self._state_path)
        progress("creating namespaces")
        names = [h.netns for h in p.HOSTS]
        tenant.add_namespaces([*names, p.PORTS_NETNS], routers=[p.CONTROLLER.netns])
        progress("wiring the management network")
        wire_mgmt_bridge(
            p.MGMT_BRIDGE,
            p.MGMT_GATEWAY,
            [(h.netns, h.root_veth, "mgmt0", h.mgmt_ip) for h in p.HOSTS],
        )
        progress(f"wiring the tenant network, the router and {len(p.PORTS)} more ports")
        self._wire_data_path()
        tenant.write_nova_confs((p.CONTROLLER, p.COMPUTE))
        pins.pin(self._host_pins())  # every host but the router keeps its neighbours
        files = self._start_ssh(
            [netns.SshHost(h.name, h.netns, h.mgmt_ip) for h in p.HOSTS], progress
        )
        hosts = tenant.inventory_hosts(p.HOSTS, mode=p.MODE, mtu=1500, instance_mac=p.INSTANCE_MAC)
        self._write_inventory_doc(files, hosts, p.MODE)
        if not state.healthy:
            low = "/".join(str(v) for v in p.LOWERED.values())
            progress(
                f"lowering the global ARP gc_thresh1/2/3 to {low} (saved; machine's entries pinned)"
            )
            root = pins.resolved_entries()
            state.extra["original_thresholds"] = THRESHOLDS.lower(
                p.LOWERED, self.name, extra=pins.to_extra(root), prepare=lambda: pins.pin(root)
            )
            state.save(self._state_path)
        progress(f"the router's traffic to {len(p.PORTS)} ports")
        state.extra["heartbeat"] = self._start_heartbeat()

    def _wire_data_path(self) -> None:
        tenant.wire_bridged_router(p.HOSTS, p.INSTANCE_MAC, ((p.PORTS_NETNS, p.PORTS_TAP),))
        for addr in p.PORTS:
            netns.add_address("eth0", f"{addr}/24", ns=p.PORTS_NETNS)
        netns.link_up("eth0", ns=p.PORTS_NETNS)

    @staticmethod
    def _host_pins() -> list[pins.Pin]:
        """Permanent entries for what the other hosts need (the router's own table is
        the story): outside <-> router, instance and ports -> router, management."""
        ctl, _cmp, ins, out = p.HOSTS
        router_tenant = pins.mac_of(p.BRIDGE, ctl.netns)
        mgmt_gw = pins.mac_of(p.MGMT_BRIDGE)
        rows = [
            pins.Pin(p.ROUTER_OUTSIDE_IP, "eth0", pins.mac_of("eth1", ctl.netns), out.netns),
            pins.Pin(p.OUTSIDE_IP, "eth1", pins.mac_of("eth0", out.netns), ctl.netns),
            pins.Pin(p.GATEWAY_IP, "eth0", router_tenant, ins.netns),
            pins.Pin(p.GATEWAY_IP, "eth0", router_tenant, p.PORTS_NETNS),
        ]
        for h in p.HOSTS:
            rows.append(pins.Pin(h.mgmt_ip, p.MGMT_BRIDGE, pins.mac_of("mgmt0", h.netns)))
            rows.append(pins.Pin(p.MGMT_GATEWAY_IP, "mgmt0", mgmt_gw, h.netns))
        return rows

    def _start_heartbeat(self) -> str:
        status = self.run_dir / "controller" / "heartbeat.status"
        status.parent.mkdir(parents=True, exist_ok=True)
        args = [str(p.HEARTBEAT_LIFETIME), str(p.HEARTBEAT_INTERVAL), str(status), *p.PORTS]
        with status.with_suffix(".log").open("w") as fh:
            subprocess.Popen(  # noqa: S603 - a lab process in its namespace, stopped by down
                netns.in_ns(p.CONTROLLER.netns, [sys.executable, str(HEARTBEAT_SCRIPT), *args]),
                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + HEARTBEAT_WAIT
        while time.monotonic() < deadline:  # the heartbeat says how its rounds go
            if status.exists() and status.read_text().endswith("\n"):
                return status.read_text().strip()
            time.sleep(0.1)
        raise CloudtalesError(
            f"the router's heartbeat did not report within {HEARTBEAT_WAIT:.0f} s"
        )

    def _stop_extras(self, state: LabState | None) -> list[str]:
        restored = THRESHOLDS.restore()
        if restored is None:
            return []
        said = "/".join(str(v) for v in restored.values())
        return [f"global ARP gc_thresh1/2/3 restored to {said}; the machine's entries unpinned"]

    # ------------------------------------------------------------ inspecting

    def _problems(self, state: LabState) -> list[str]:
        names = [h.netns for h in p.HOSTS]
        problems = self._base_problems([*names, p.PORTS_NETNS], [h.name for h in p.HOSTS])
        lowered = THRESHOLDS.saved() is not None
        if state.complete and lowered == state.healthy:
            problems.append("the global ARP thresholds are not as built")
        if state.complete and router_alive() and not heartbeat_running():
            problems.append(f"the router's heartbeat is not running (it stops after "
                            f"{p.HEARTBEAT_LIFETIME} s): run up again")  # fmt: skip
        return problems + self._inventory_problems()

    def status(self) -> LabStatus:
        state = LabState.load(self._state_path)
        if state is None or not state.complete:  # a crashed build gives the thresholds back
            THRESHOLDS.restore()
        return super().status()

    def _describe(self, state: LabState) -> list[str]:
        now = THRESHOLDS.current()
        lines = [
            self._summary(state, "healthy (thresholds untouched)", "faulty (thresholds lowered)"),
            "global ARP " + ", ".join(f"{k} {v}" for k, v in now.items()),
        ]
        if router_alive():
            out = netns.ip(
                "-4", "neigh", "show", "dev", p.BRIDGE, ns=p.CONTROLLER.netns, check=False
            )
            lines.append(f"router's tenant-side neighbour entries: {len(out.stdout.splitlines())}")
        lines += [
            f"router's heartbeat to {len(p.PORTS)} ports: {state.extra.get('heartbeat', '?')}",
            self._sshd_line((h.name, h.mgmt_ip) for h in p.HOSTS),
            *self._inventory_lines(),
        ]
        return lines
