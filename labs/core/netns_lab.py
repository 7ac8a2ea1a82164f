"""The life cycle every namespace lab shares: up, down, status and their checks.

A lab subclasses ``NetnsLab``, names its namespaces and root-namespace links by
prefix, and fills in the hooks: ``_build`` (what it builds), ``_problems`` (what
is missing from a lab built with a state), ``_describe`` (status lines), and when
it needs them ``_choose_mode``, ``_can_reuse``, ``_stop_extras`` (stopped before
the namespaces go: RabbitMQ, mariadbd, emulators in the root namespace) and
``_cleanup_extras`` (after: mounts). ``up`` is idempotent: a complete lab in the
same mode and health with no problems is kept; anything else, even a crashed
build, is removed first. ``down`` removes everything with the lab's prefixes,
the paths the lab created (if empty and no other lab uses them: ``shared_dirs``) and
its run dir.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import yaml

from engine.errors import CloudtalesError
from labs.core import netns
from labs.core.base import RUN_ROOT, LabInfo, LabState, LabStatus, Progress, quiet
from labs.core.shared_dirs import ETC_NETNS as ETC_NETNS  # the labs import it from here
from labs.core.shared_dirs import release, rmdir_if_empty

NO_IPV6 = {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}


def no_ipv6() -> dict[str, str]:
    """Sysctls that turn IPv6 off in a namespace (none on a kernel built without IPv6)."""
    return dict(NO_IPV6) if Path("/proc/sys/net/ipv6").exists() else {}


def add_namespaces(names: Iterable[str], routers: Iterable[str] = ()) -> None:
    """Each namespace with IPv6 off (captures hold only the tale's traffic); ``routers``
    forward IPv4."""
    forwarding = set(routers)
    for ns in names:
        forward = {"net.ipv4.ip_forward": "1"} if ns in forwarding else {}
        netns.add_namespace(ns, {**no_ipv6(), **forward})


def spawn(ns: str | None, argv: list[str], log: Path, cwd: Path | None = None) -> int:
    """Start a long-running process (in ``ns``; None: the root namespace) in a session of
    its own, its output appended to ``log``; its pid. The lab's ``down`` stops it."""
    full = netns.in_ns(ns, argv) if ns else argv
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            full,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=cwd,
        )
    return proc.pid


def wire_mgmt_bridge(bridge: str, gateway: str, ports: Iterable[tuple[str, str, str, str]]) -> None:
    """A root-namespace bridge with address ``gateway`` and one veth per port.

    ``ports``: (namespace, root-side veth, namespace-side name, address without prefix /24).
    """
    netns.add_bridge(bridge)
    netns.add_address(bridge, gateway)
    netns.link_up(bridge)
    for ns, root_veth, iface, address in ports:
        netns.add_veth(root_veth, iface, peer_ns=ns)
        netns.set_master(root_veth, bridge)
        netns.link_up(root_veth)
        netns.add_address(iface, f"{address}/24", ns=ns)
        netns.link_up(iface, ns=ns)


class NetnsLab:
    """Template for a lab made of network namespaces with real sshd on a management bridge."""

    name: str
    title: str
    ns_prefix: ClassVar[str]
    root_prefix: ClassVar[str]  # links the lab puts in the root namespace
    mgmt_bridge: ClassVar[str]
    mgmt_net: ClassVar[str]
    mode: ClassVar[str] = ""
    tools: ClassVar[Mapping[str, str]] = {}  # beyond netns.BASE_TOOLS
    host_names: ClassVar[tuple[str, ...]]
    stop_rounds: ClassVar[int] = 1  # rounds of stopping what runs in the namespaces
    stop_timeout: ClassVar[float] = 3.0

    def __init__(self) -> None:
        self.run_dir = RUN_ROOT / self.name

    # ------------------------------------------------------------ public API

    def inventory_path(self) -> Path:
        return self.run_dir / "inventory.yaml"

    @property
    def _state_path(self) -> Path:
        return self.run_dir / "state.json"

    def up(self, healthy: bool = False, progress: Progress = quiet) -> LabInfo:
        self._preflight()
        state = LabState.load(self._state_path)
        mode = self._choose_mode(state, progress)
        if (
            state
            and state.complete
            and (state.mode, state.healthy) == (mode, healthy)
            and not self._problems(state)
            and self._can_reuse(state, progress)
        ):
            progress("lab already up")
            return self._info(state)
        if state or netns.namespaces(self.ns_prefix) or netns.links(prefix=self.root_prefix):
            progress("removing the previous lab")
            self.down()
        started = time.monotonic()
        state = LabState(mode=mode, healthy=healthy)
        state.save(self._state_path)
        self._build(state, progress)
        state.complete = True
        state.extra["up_seconds"] = round(time.monotonic() - started, 3)
        state.save(self._state_path)
        return self._info(state)

    def down(self) -> list[str]:
        netns.require_root(f"the {self.name} lab")
        netns.require_tools({"ip": "iproute2"})
        state = LabState.load(self._state_path)
        removed = self._stop_extras(state)
        removed += [f"sshd pid {pid}" for pid in netns.stop_sshds(self.run_dir)]
        present = netns.namespaces(self.ns_prefix)
        for _ in range(self.stop_rounds):  # a stopping daemon may start a helper again
            pids = {p: ns for ns in present for p in netns.namespace_pids(ns)}
            if not pids:
                break
            for pid in netns.stop_pids(pids, timeout=self.stop_timeout):
                removed.append(f"pid {pid} in {pids[pid]}")
        for ns in present:
            netns.delete_namespace(ns)
            removed.append(f"namespace {ns}")
        for dev in netns.links(prefix=self.root_prefix):  # the bridge, veths whose peer lingers
            netns.delete_link(dev)
            removed.append(f"link {dev}")
        for d in sorted(ETC_NETNS.glob(self.ns_prefix + "*")):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(str(d))
        removed += self._cleanup_extras(state)
        # a shared dir (/etc/nova) goes with the last lab that uses it
        removed += release(self.name, state.created_paths if state else [])
        if self.run_dir.exists():
            shutil.rmtree(self.run_dir, ignore_errors=True)
            removed.append(str(self.run_dir))
        for parent in (RUN_ROOT, RUN_ROOT.parent):  # shared with other labs
            rmdir_if_empty(parent)
        return removed

    def status(self) -> LabStatus:
        state = LabState.load(self._state_path)
        present = netns.namespaces(self.ns_prefix)
        details = [f"namespaces: {', '.join(present) or 'none'}"]
        if state is None:
            if present:
                details.append("no state file: a half-built lab, run down")
            return LabStatus(self.name, False, None, None, details)
        problems = self._problems(state)
        details += self._describe(state)
        if not state.complete:
            details.append("build did not finish: run down (or up again)")
        details += [f"problem: {p}" for p in problems]
        return LabStatus(
            name=self.name,
            running=state.complete and not problems,
            mode=state.mode,
            healthy=state.healthy,
            details=details,
        )

    # ------------------------------------------------------------ hooks

    def _preflight(self) -> None:
        netns.require_root(f"the {self.name} lab")
        netns.require_tools({**netns.BASE_TOOLS, **self.tools})
        owner = netns.route_owner(self.mgmt_net)
        if owner not in (None, self.mgmt_bridge):
            raise CloudtalesError(
                f"{self.mgmt_net} is already routed via {owner}: "
                "the lab's management network clashes"
            )

    def _choose_mode(self, state: LabState | None, progress: Progress) -> str:
        """The mode to build in (``state``: what is there now, if anything)."""
        return self.mode

    def _can_reuse(self, state: LabState, progress: Progress) -> bool:
        """Whether a complete lab without problems may be kept as it is."""
        return True

    def _build(self, state: LabState, progress: Progress) -> None:
        raise NotImplementedError

    def _problems(self, state: LabState) -> list[str]:
        """What is missing from a lab built with ``state`` (empty when it all works)."""
        raise NotImplementedError

    def _describe(self, state: LabState) -> list[str]:
        raise NotImplementedError

    def _stop_extras(self, state: LabState | None) -> list[str]:
        """Stop what must go before sshd and the namespaces; what was stopped."""
        return []

    def _cleanup_extras(self, state: LabState | None) -> list[str]:
        """Remove what outlives the namespaces (mounts...); what was removed."""
        return []

    # ------------------------------------------------------------ shared pieces

    def _info(self, state: LabState) -> LabInfo:
        return LabInfo(
            name=self.name,
            inventory_path=self.inventory_path(),
            mode=state.mode,
            healthy=state.healthy,
            hosts=list(self.host_names),
        )

    def _start_ssh(self, hosts: Sequence[netns.SshHost], progress: Progress) -> netns.SshFiles:
        progress("generating ssh keys")
        files = netns.prepare_ssh(self.run_dir, hosts, comment=f"cloudtales-{self.name}")
        progress(f"starting sshd x{len(hosts)}")
        netns.start_sshds(self.run_dir, hosts)
        return files

    @staticmethod
    def _summary(state: LabState, healthy: str = "healthy", faulty: str = "faulty") -> str:
        """``MODE, healthy|faulty, built in N s``: the first status line."""
        parts = [state.mode, healthy if state.healthy else faulty]
        if "up_seconds" in state.extra:
            parts.append(f"built in {state.extra['up_seconds']} s")
        return ", ".join(parts)

    def _base_problems(self, namespaces: Iterable[str], sshd_hosts: Iterable[str]) -> list[str]:
        """Missing namespaces, management bridge and sshds."""
        problems: list[str] = []
        present = set(netns.namespaces(self.ns_prefix))
        missing = [ns for ns in namespaces if ns not in present]
        if missing:
            problems.append(f"namespaces missing: {', '.join(missing)}")
        if self.mgmt_bridge not in netns.links(prefix=self.root_prefix):
            problems.append(f"management bridge {self.mgmt_bridge} missing")
        dead = [h for h in sshd_hosts if netns.sshd_pid(self.run_dir, h) is None]
        if dead:
            problems.append(f"sshd not running on: {', '.join(dead)}")
        return problems

    def _inventory_problems(self) -> list[str]:
        return [] if self.inventory_path().exists() else [f"{self.inventory_path()} missing"]

    def _sshd_line(self, hosts: Iterable[tuple[str, str]]) -> str:
        """``sshd: NAME IP:22 pid PID, ...`` for (name, address) pairs."""
        return "sshd: " + ", ".join(
            f"{name} {ip}:22 pid {netns.sshd_pid(self.run_dir, name) or 'dead'}"
            for name, ip in hosts
        )

    def _inventory_lines(self) -> list[str]:
        path = self.inventory_path()
        return [f"inventory: {path}"] if path.exists() else []

    def _write_inventory_doc(
        self, files: netns.SshFiles, hosts: Mapping[str, object], mode: str | None = None
    ) -> None:
        """The inventory the engine reads: ``hosts`` reached over ssh with the lab's keys."""
        doc = {
            "name": f"{self.name}-lab",
            "ssh": {
                "known_hosts": str(files.known_hosts),
                "client_keys": [str(files.client_key)],
                "username": "root",
            },
            "hosts": dict(hosts),
        }
        header = f"# written by `cloudtales lab up {self.name}`" + (f" ({mode})" if mode else "")
        self.inventory_path().write_text(header + "\n" + yaml.safe_dump(doc, sort_keys=False))
