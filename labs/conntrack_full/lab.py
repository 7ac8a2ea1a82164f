"""conntrack-full: the tenant router's conntrack table is full; new flows are dropped.

Hosts (network namespaces ``ct-cf-*``), each with real OpenSSH on a management
network bridged in the root namespace (``ctcf-mgmt``, 10.250.33.0/24)::

    outside 203.0.113.10 ── eth1 203.0.113.1  controller (the tenant router)
                                              brq-tenant 10.0.100.1
                                                  │ bond0
    instance eth0 10.0.100.5 ── tap0 ── brq-tenant ── bond0 compute

The controller routes between the outside and the tenant network; its nftables ruleset
(``plan.ROUTER_NFT``: stateful forward rules) makes its namespace's conntrack track
every routed flow, and leaves the management network untracked. The instance runs an
app on tcp/8080 (``burst.py serve``); the outside host opens a bounded burst of flows
to it and keeps them established (``burst.py burst``).

- faulty: the global ``nf_conntrack_max`` is lowered to 128 while the lab is up
  (``global_max``: saved, locked, restored on down and after a crash). The burst fills
  the router's table with 128 assured entries: the established flows live, every new
  flow through the router (SYN, ping) is dropped ("nf_conntrack: table full").
- ``--healthy``: the normal maximum; the same burst passes and new flows still do.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from engine.errors import CloudtalesError
from labs.conntrack_full import global_max
from labs.conntrack_full import plan as p
from labs.core import netns, tenant
from labs.core.base import LabState, LabStatus, Progress
from labs.core.netns_lab import NetnsLab, wire_mgmt_bridge

TOOLS = {"nft": "nftables"}  # the router's ruleset (the checks read /proc only)
BURST_SCRIPT = Path(__file__).with_name("burst.py")
BURST_WAIT = 30.0  # s for the burst to report (128 connects of a few ms, one 1 s timeout)


def router_alive() -> bool:
    return (Path("/run/netns") / p.CONTROLLER.netns).exists()


def restore_orphaned_max() -> int | None:
    """A lowered global maximum whose lab is gone comes back (see ``global_max``)."""
    return global_max.restore_orphaned(router_alive)


def read_router(name: str) -> str:
    """``/proc/sys/net/netfilter/NAME`` as the router namespace sees it."""
    out = netns.run(netns.in_ns(p.CONTROLLER.netns, ["cat", f"/proc/sys/net/netfilter/{name}"]))
    return out.stdout.strip()


class ConntrackFullLab(NetnsLab):
    name = "conntrack-full"
    title = "Conntrack table full on the network node"
    ns_prefix = p.NS_PREFIX
    root_prefix = p.ROOT_PREFIX
    mgmt_bridge = p.MGMT_BRIDGE
    mgmt_net = p.MGMT_NET
    mode = p.MODE
    tools = {"tcpdump": "tcpdump", "ping": "iputils-ping", **TOOLS}
    host_names = tuple(h.name for h in p.HOSTS)

    def _build(self, state: LabState, progress: Progress) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tenant.make_shared_dirs(state, self._state_path)

        progress("creating namespaces")
        tenant.add_namespaces([h.netns for h in p.HOSTS], routers=[p.CONTROLLER.netns])
        # the ruleset before any link is up: nothing (an IGMP report) is tracked before it
        (self.run_dir / "router.nft").write_text(p.ROUTER_NFT)
        netns.run(netns.in_ns(p.CONTROLLER.netns, ["nft", "-f", str(self.run_dir / "router.nft")]))
        progress("wiring the management network")
        wire_mgmt_bridge(
            p.MGMT_BRIDGE,
            p.MGMT_GATEWAY,
            [(h.netns, h.root_veth, "mgmt0", h.mgmt_ip) for h in p.HOSTS],
        )
        progress("wiring the tenant network and the router")
        tenant.wire_bridged_router(p.HOSTS, p.INSTANCE_MAC)
        tenant.write_nova_confs((p.CONTROLLER, p.COMPUTE))

        files = self._start_ssh(
            [netns.SshHost(h.name, h.netns, h.mgmt_ip) for h in p.HOSTS], progress
        )
        self._write_inventory(files)
        if not state.healthy:
            progress(f"lowering the global nf_conntrack_max to {p.LOWERED_MAX} (saved)")
            state.extra["original_max"] = global_max.lower(p.LOWERED_MAX, self.name)
            state.save(self._state_path)
        progress(f"the app on the instance, then a burst of up to {p.BURST} flows from outside")
        state.extra["burst"] = self._start_traffic()

    def _spawn(self, ns: str, args: list[str], log: Path) -> None:
        with log.open("w") as fh:
            subprocess.Popen(  # noqa: S603 - a lab process in its namespace, stopped by down
                netns.in_ns(ns, [sys.executable, str(BURST_SCRIPT), *args]),
                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip

    def _start_traffic(self) -> str:
        app = self.run_dir / "instance"
        app.mkdir(parents=True, exist_ok=True)
        self._spawn(p.INSTANCE.netns, ["serve", str(p.APP_PORT)], app / "app.log")
        self._wait_listening()
        status = self.run_dir / "outside" / "burst.status"
        status.parent.mkdir(parents=True, exist_ok=True)
        args = ["burst", p.INSTANCE_IP, str(p.APP_PORT), str(p.BURST), str(status)]
        self._spawn(p.OUTSIDE.netns, args, status.with_suffix(".log"))
        deadline = time.monotonic() + BURST_WAIT
        while time.monotonic() < deadline:  # the burst says how far it got
            if status.exists() and status.read_text().endswith("\n"):
                return status.read_text().strip()
            time.sleep(0.1)
        raise CloudtalesError(f"the burst from outside did not report within {BURST_WAIT:.0f} s")

    @staticmethod
    def _wait_listening() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ss = netns.run(netns.in_ns(p.INSTANCE.netns, ["ss", "-Htln", f"sport = :{p.APP_PORT}"]))
            if ss.stdout.strip():
                return
            time.sleep(0.05)
        raise CloudtalesError(f"the instance's app did not listen on tcp/{p.APP_PORT}")

    def _write_inventory(self, files: netns.SshFiles) -> None:
        hosts = tenant.inventory_hosts(p.HOSTS, mode=p.MODE, mtu=1500, instance_mac=p.INSTANCE_MAC)
        self._write_inventory_doc(files, hosts, p.MODE)

    def _stop_extras(self, state: LabState | None) -> list[str]:
        restored = global_max.restore()
        return [] if restored is None else [f"global nf_conntrack_max restored to {restored}"]

    # ------------------------------------------------------------ inspecting

    def _problems(self, state: LabState) -> list[str]:
        problems = self._base_problems([h.netns for h in p.HOSTS], [h.name for h in p.HOSTS])
        lowered = global_max.saved() is not None
        if state.complete and lowered == state.healthy:
            problems.append("the global nf_conntrack_max is not as built")
        return problems + self._inventory_problems()

    def status(self) -> LabStatus:
        state = LabState.load(self._state_path)
        if state is None or not state.complete:  # a crashed build gives the maximum back
            global_max.restore()
        return super().status()

    def _describe(self, state: LabState) -> list[str]:
        lines = [self._summary(state, "healthy (normal maximum)", "faulty (maximum lowered)")]
        if router_alive():
            count, cmax = read_router("nf_conntrack_count"), read_router("nf_conntrack_max")
            lines.append(f"router conntrack: {count} of {cmax} entries")
        lines += [
            f"burst from outside to {p.INSTANCE_IP}:{p.APP_PORT}: {state.extra.get('burst', '?')}",
            self._sshd_line((h.name, h.mgmt_ip) for h in p.HOSTS),
            *self._inventory_lines(),
        ]
        return lines
