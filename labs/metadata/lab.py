"""The metadata incident as a real lab: the instance cannot fetch http://169.254.169.254/.

Hosts (network namespaces ``ct-md-*``), each with real OpenSSH on a management
network bridged in the root namespace (``ctmd-mgmt``, 10.250.21.0/24)::

    outside eth0 203.0.113.10 ── eth1 203.0.113.1 controller bond0 10.0.0.1
                                  (the router namespace)  │
    instance eth0 10.0.0.5 ── tap0 ┐                      │
                               br100 ──────────── bond0 compute

The controller plays neutron's router namespace: as the L3 agent lays it out, an
iptables ``nat PREROUTING`` rule redirects ``169.254.169.254:80`` to port 9697,
where a real haproxy (Debian's) is the metadata proxy. haproxy adds
``X-Neutron-Router-ID`` and forwards to the metadata agent's unix socket; the agent
signs the instance id for nova's metadata API (both are the faithful emulation in
``nova_metadata_emulator.py``, running in the same namespace).

Faults (the lab's mode):
  ``proxy-down``       haproxy is not running: its config and the redirect are there,
                       nothing listens on 9697, so the instance's connection is refused.
  ``secret-mismatch``  everything runs, but metadata_agent.ini and nova.conf hold
                       different ``metadata_proxy_shared_secret`` values: nova answers
                       403 to the signed requests and both sides log it.
``--healthy``: haproxy runs and the secrets match; the instance gets its metadata.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from engine.errors import CloudtalesError
from labs.core import netns, tenant
from labs.core.base import LabState, Progress, quiet
from labs.core.faults import Injection
from labs.core.host_plan import mgmt_ports
from labs.core.netns_lab import ETC_NETNS, NetnsLab, add_namespaces, spawn, wire_mgmt_bridge
from labs.metadata import plan
from labs.metadata.plan import (
    COMPUTE,
    CONTROLLER,
    HOSTS,
    INSTANCE,
    MGMT_BRIDGE,
    MGMT_GATEWAY,
    MGMT_NET,
    NS_PREFIX,
    OUTSIDE,
    PROXY_DOWN,
    ROOT_PREFIX,
    SECRET_MISMATCH,
    SSH_HOSTS,
)

REPO = Path(__file__).resolve().parents[2]
FAULTS = (PROXY_DOWN, SECRET_MISMATCH)
TOOLS = {"haproxy": "haproxy", "iptables-restore": "iptables", "ss": "iproute2", "curl": "curl"}


def _pid_text(pid: int | None) -> str:
    return f"pid {pid}" if pid else "not running"


class MetadataLab(NetnsLab):
    name = "metadata"
    title = "Metadata unreachable"
    ns_prefix = NS_PREFIX
    root_prefix = ROOT_PREFIX
    mgmt_bridge = MGMT_BRIDGE
    mgmt_net = MGMT_NET
    tools = TOOLS
    host_names = tuple(h.name for h in HOSTS)
    mode = PROXY_DOWN

    def __init__(self, fault: str = PROXY_DOWN) -> None:
        super().__init__()
        self.select_fault(fault)

    def select_fault(self, fault: str) -> None:
        if fault not in FAULTS:
            raise CloudtalesError(
                f"lab metadata: unknown fault {fault!r} (known: {', '.join(FAULTS)})"
            )
        self.fault = fault

    def _choose_mode(self, state: LabState | None, progress: Progress) -> str:
        return self.fault

    def inject_fault(self, progress: Progress = quiet) -> Injection:
        """``drill --surprise``, in place: haproxy dies (proxy-down), or nova's secret is
        rotated and nova's metadata API restarted without the agent's (secret-mismatch)."""
        state = LabState.load(self._state_path)
        if state is None or not state.complete:
            raise CloudtalesError(f"lab {self.name} is not up: nothing to inject a fault into")
        if not state.healthy:
            return Injection(self.name, "already faulty")
        if state.mode == SECRET_MISMATCH:
            progress("controller: rotating nova's metadata_proxy_shared_secret only")
            conf = ETC_NETNS / CONTROLLER.netns / "nova" / "nova.conf"
            conf.write_text(plan.nova_conf(plan.OTHER_SECRET))
            netns.stop_pids([p for p in (self._pid("api"),) if p is not None])
            self._start_emulator("api")
            how = "controller: nova.conf's metadata_proxy_shared_secret no longer the agent's"
        else:
            progress("controller: the metadata proxy (haproxy) dies")
            netns.stop_pids([p for p in (self._pid("haproxy"),) if p is not None])
            how = "controller: haproxy, the router's metadata proxy, is gone"
        state.healthy = False
        state.extra["fault_injected_at"] = round(time.time(), 3)
        state.save(self._state_path)
        return Injection(self.name, how)

    # ------------------------------------------------------------ building

    def _build(self, state: LabState, progress: Progress) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tenant.make_shared_dirs(state, self._state_path)  # /etc/netns, /etc/neutron, /etc/nova

        progress("creating namespaces")
        add_namespaces([h.netns for h in HOSTS], routers=[CONTROLLER.netns])
        progress("wiring the management network")
        wire_mgmt_bridge(MGMT_BRIDGE, MGMT_GATEWAY, mgmt_ports(HOSTS))
        progress("wiring the tenant network (bond0, br100, tap0) and the router")
        plan.wire_data_path()

        progress("writing metadata_agent.ini, nova.conf, haproxy.cfg")
        healthy = state.healthy
        agent_secret = plan.SECRET
        nova_secret = plan.SECRET if healthy or state.mode != SECRET_MISMATCH else plan.OTHER_SECRET
        ctl_etc = ETC_NETNS / CONTROLLER.netns
        (ctl_etc / "neutron").mkdir(parents=True, exist_ok=True)
        (ctl_etc / "nova").mkdir(parents=True, exist_ok=True)
        (ctl_etc / "neutron" / "metadata_agent.ini").write_text(plan.agent_ini(agent_secret))
        (ctl_etc / "nova" / "nova.conf").write_text(plan.nova_conf(nova_secret))
        d = self.run_dir / "controller"
        d.mkdir(parents=True, exist_ok=True)
        (d / "haproxy.cfg").write_text(plan.haproxy_cfg(self.run_dir))
        (d / "ports.json").write_text(json.dumps(plan.ports_doc(self.run_dir), indent=2))
        for log in plan.LOGS.values():
            (self.run_dir / log).touch()

        progress("the L3 agent's redirect: 169.254.169.254:80 -> 9697")
        netns.run(
            netns.in_ns(CONTROLLER.netns, ["iptables-restore", "-w"]), input_text=plan.nat_rules()
        )

        progress("starting nova's metadata API and the metadata agent (emulated)")
        self._start_emulator("api")
        self._start_emulator("agent")
        if healthy or state.mode == SECRET_MISMATCH:
            progress("starting haproxy, the metadata proxy")
            self._start_haproxy()
        else:
            progress("haproxy, the metadata proxy, is not running (the fault)")

        files = self._start_ssh(SSH_HOSTS, progress)
        progress("writing inventory")
        self._write_inventory_doc(files, plan.inventory_hosts(self.run_dir, state.mode), state.mode)

    def _start_emulator(self, role: str) -> None:
        conf = "/etc/neutron/metadata_agent.ini" if role == "agent" else "/etc/nova/nova.conf"
        log = self.run_dir / (plan.LOGS["agent"] if role == "agent" else plan.LOGS["nova"])
        argv = [
            sys.executable,
            "-m",
            "labs.metadata.nova_metadata_emulator",
            role,
            "--conf",
            conf,
            "--ports",
            str(self.run_dir / "controller" / "ports.json"),
            "--log",
            str(log),
        ]
        if role == "agent":
            argv += ["--socket", str(plan.agent_socket(self.run_dir))]
        started = log.read_text().count("listening on") if log.exists() else 0
        pid = spawn(CONTROLLER.netns, argv, self.run_dir / "controller" / f"{role}.out", cwd=REPO)
        (self.run_dir / "controller" / f"{role}.pid").write_text(f"{pid}\n")
        ready = lambda: log.read_text().count("listening on") > started  # noqa: E731
        self._wait(ready, f"the emulated {role}", pid)

    def _start_haproxy(self) -> None:
        cfg = self.run_dir / "controller" / "haproxy.cfg"
        netns.run(["haproxy", "-c", "-q", "-f", str(cfg)])
        argv = ["haproxy", "-db", "-f", str(cfg)]
        pid = spawn(CONTROLLER.netns, argv, self.run_dir / plan.LOGS["proxy"], cwd=REPO)
        (self.run_dir / "controller" / "haproxy.pid").write_text(f"{pid}\n")
        self._wait(lambda: plan.listening(CONTROLLER.netns, plan.PROXY_PORT), "haproxy", pid)

    def _wait(self, ready: object, what: str, pid: int, timeout: float = 10.0) -> None:
        assert callable(ready)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            if not netns.pid_alive(pid):
                break
            time.sleep(0.02)
        raise CloudtalesError(
            f"lab metadata: {what} did not start (see {self.run_dir / 'controller'})"
        )

    # ------------------------------------------------------------ inspecting

    def _pid(self, name: str) -> int | None:
        try:
            pid = int((self.run_dir / "controller" / f"{name}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if netns.pid_alive(pid) else None

    def _stop_extras(self, state: LabState | None) -> list[str]:
        pids = [p for n in ("haproxy", "agent", "api") if (p := self._pid(n)) is not None]
        return [f"pid {p}" for p in netns.stop_pids(pids)]

    def _problems(self, state: LabState) -> list[str]:
        problems = self._base_problems([h.netns for h in HOSTS], [h.name for h in HOSTS])
        for role in ("agent", "api"):
            if self._pid(role) is None:
                problems.append(f"the emulated metadata {role} is not running")
        wants_proxy = state.healthy or state.mode == SECRET_MISMATCH
        if wants_proxy and self._pid("haproxy") is None:
            problems.append("haproxy is not running")
        if not wants_proxy and self._pid("haproxy") is not None:
            problems.append("haproxy runs in a lab built with it down")
        return problems + self._inventory_problems()

    def _describe(self, state: LabState) -> list[str]:
        lines = [self._summary(state) + f", fault {state.mode}"]
        lines.append(self._sshd_line((h.name, h.mgmt_ip) for h in HOSTS))
        proxy = self._pid("haproxy")
        lines.append(f"controller haproxy :{plan.PROXY_PORT}: {_pid_text(proxy)}")
        for role in ("agent", "api"):
            pid = self._pid(role)
            lines.append(f"controller metadata {role} (emulated): {_pid_text(pid)}")
        return lines + self._inventory_lines()


__all__ = ["COMPUTE", "INSTANCE", "OUTSIDE", "MetadataLab"]
