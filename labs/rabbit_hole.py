"""The "Down the Rabbit Hole" tale as a lab: a 5.5 GiB console.log pulled through RabbitMQ.

Hosts (network namespaces ``ct-rh-*``), each with real OpenSSH on a management
network bridged in the root namespace (``ctrh-mgmt``, 10.250.5.0/24)::

    controller 10.250.5.1   nova-api log, a REAL RabbitMQ (Debian's rabbitmq-server)
    cc11       10.250.5.2   compute: two instances, normal console logs
    cc12       10.250.5.3   compute: three instances; instance-00000e05's console.log
                            is 5.5 GiB (sparse: a hole, then 8 MiB of I/O errors)

The guest, nova and the dashboard user cannot run here: ``console_flood.py``
writes what they leave behind (the console logs, ten minutes of nova-api log with
a console refresh every ~3 s for instance-00000e05). RabbitMQ does run, as the
``rabbitmq`` user inside the controller's namespace, with its state, logs, cookie
and HOME under the lab's run dir (``/etc/netns/ct-rh-controller/rabbitmq/
rabbitmq-env.conf`` points it there, for the server and for ``rabbitmqctl`` in
ssh sessions alike). The lab publishes the backlog the tale's flood leaves: 40
``get_console_output`` calls on ``compute.cc12`` and 24 replies of 4 MiB of
console text each on nova-api's ``reply_*`` queue (``rabbitmqctl eval`` with
``rabbit_basic:publish``; no AMQP client is needed).

Each host's files live under its own directory in the run dir, recorded in the
inventory as host vars (``instances_path``, ``nova_api_log``), which the checks
read in place of nova's defaults. ``--healthy``: no huge console.log, a quiet
nova-api log, no backlog.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

from engine.errors import CloudtalesError
from labs import console_flood, netns, rabbitmq_node
from labs.base import RUN_ROOT, LabInfo, LabState, LabStatus, Progress, quiet
from labs.rabbitmq_node import RabbitNode

MODE = "netns+rabbitmq"
MODE_NO_RABBIT = "netns"
NS_PREFIX = "ct-rh-"
ROOT_PREFIX = "ctrh-"
MGMT_BRIDGE = f"{ROOT_PREFIX}mgmt"
MGMT_NET = "10.250.5.0/24"
MGMT_GATEWAY = "10.250.5.254/24"
ETC_NETNS = Path("/etc/netns")
REPLY_QUEUE = "reply_5f2d8c1e9a7b4e3f8d6c0b1a2e4f7c9d"
QUEUES = ("compute", "compute.cc11", "compute.cc12", "conductor", "scheduler", "consoleauth")
REPLY_BYTES = 4 * 1024 * 1024
BACKLOG = {"compute.cc12": ("request", 40), REPLY_QUEUE: ("reply", 24)}  # faulty only


@dataclass(frozen=True)
class HostPlan:
    name: str
    mgmt_ip: str
    root_veth: str
    role: str

    @property
    def netns(self) -> str:
        return NS_PREFIX + self.name


CONTROLLER = HostPlan("controller", "10.250.5.1", "ctrh-ctl", "controller")
CC11 = HostPlan("cc11", "10.250.5.2", "ctrh-cc11", "compute")
CC12 = HostPlan("cc12", "10.250.5.3", "ctrh-cc12", "compute")
HOSTS = (CONTROLLER, CC11, CC12)
COMPUTES = (CC11, CC12)
SSH_HOSTS = tuple(netns.SshHost(h.name, h.netns, h.mgmt_ip) for h in HOSTS)


def _rmdir_if_empty(path: Path) -> bool:
    try:
        path.rmdir()
    except OSError:
        return False
    return True


class RabbitHoleLab:
    name = "rabbit-hole"
    title = "Down the Rabbit Hole"

    def __init__(self) -> None:
        self.run_dir = RUN_ROOT / self.name

    # ------------------------------------------------------------ paths

    def inventory_path(self) -> Path:
        return self.run_dir / "inventory.yaml"

    def instances_path(self, host: HostPlan) -> Path:
        return self.run_dir / "root" / host.name / "var/lib/nova/instances"

    def nova_api_log(self) -> Path:
        return self.run_dir / "root" / CONTROLLER.name / "var/log/nova/nova-api.log"

    def broken_console_log(self) -> Path:
        host = next(h for h in COMPUTES if h.name == console_flood.BROKEN.host)
        return self.instances_path(host) / console_flood.BROKEN.uuid / "console.log"

    @property
    def rabbit(self) -> RabbitNode:
        return RabbitNode(CONTROLLER.netns, self.run_dir / "rabbitmq", ETC_NETNS)

    @property
    def _state_path(self) -> Path:
        return self.run_dir / "state.json"

    # ------------------------------------------------------------ public API

    def up(self, healthy: bool = False, progress: Progress = quiet) -> LabInfo:
        self._preflight()
        mode = MODE if rabbitmq_node.installed() else MODE_NO_RABBIT
        if mode == MODE:
            netns.require_tools(rabbitmq_node.TOOLS)
        state = LabState.load(self._state_path)
        same = state is not None and (state.mode, state.healthy) == (mode, healthy)
        if state and state.complete and same and not self._problems(state):
            progress("lab already up")
            return self._info(state)
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
        netns.require_root("the rabbit-hole lab")
        netns.require_tools({"ip": "iproute2"})
        removed: list[str] = []
        state = LabState.load(self._state_path)
        removed += [f"sshd pid {pid}" for pid in netns.stop_sshds(self.run_dir)]
        present = netns.namespaces(NS_PREFIX)
        # RabbitMQ first, so that it stops cleanly; then whatever is left (epmd, which a
        # stopping node may start again: hence a few rounds until the namespaces are empty)
        beam = self.rabbit.pids() if CONTROLLER.netns in present else []
        removed += [f"RabbitMQ pid {pid}" for pid in netns.stop_pids(beam, timeout=15.0)]
        for _ in range(3):
            pids = {p: ns for ns in present for p in netns.namespace_pids(ns)}
            if not pids:
                break
            for pid in netns.stop_pids(pids, timeout=5.0):
                removed.append(f"pid {pid} in {pids[pid]}")
        for ns in present:
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
        state = LabState.load(self._state_path)
        present = netns.namespaces(NS_PREFIX)
        details = [f"namespaces: {', '.join(present) or 'none'}"]
        running = False
        if state is None:
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
        netns.require_root("the rabbit-hole lab")
        netns.require_tools(netns.BASE_TOOLS)
        owner = netns.route_owner(MGMT_NET)
        if owner not in (None, MGMT_BRIDGE):
            raise CloudtalesError(
                f"{MGMT_NET} is already routed via {owner}: the lab's management network clashes"
            )

    def _build(self, state: LabState, progress: Progress) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        state.created_paths = [str(ETC_NETNS)] if not ETC_NETNS.exists() else []
        state.save(self._state_path)
        ETC_NETNS.mkdir(exist_ok=True)

        progress("creating namespaces")
        for h in HOSTS:
            netns.add_namespace(h.netns)
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

        rabbit_started = None
        if state.mode == MODE:  # it boots in ~6 s: start it first, wait for it later
            progress("starting rabbitmq-server on the controller")
            rabbit_started = self.rabbit.start()

        progress("writing console logs" + ("" if state.healthy else " (one of 5.5 GiB, sparse)"))
        for h in COMPUTES:
            console_flood.write_instances(self.instances_path(h), h.name, state.healthy)
        progress("writing the nova-api log")
        api_log = self.nova_api_log()
        api_log.parent.mkdir(parents=True, exist_ok=True)
        api_log.write_text(console_flood.nova_api_log(datetime.now(), state.healthy))

        progress("generating ssh keys")
        files = netns.prepare_ssh(self.run_dir, SSH_HOSTS, comment="cloudtales-rabbit-hole")
        progress(f"starting sshd x{len(SSH_HOSTS)}")
        netns.start_sshds(self.run_dir, SSH_HOSTS)

        if rabbit_started is not None:
            progress("waiting for RabbitMQ")
            seconds = self.rabbit.wait(rabbit_started)
            state.extra["rabbitmq_start_seconds"] = round(seconds, 2)
            progress(f"RabbitMQ up in {seconds:.1f} s; publishing the queues")
            self._publish(state.healthy)
        else:
            progress("rabbitmq-server is not installed: the queue check will say no_rabbitmq")

        progress("writing inventory")
        self._write_inventory(state, files)

    # ------------------------------------------------------------ RabbitMQ

    def _publish(self, healthy: bool) -> None:
        """Queues as nova declares them; the flood's backlog unless healthy."""
        msg_id = "0e05" * 8
        bodies = {
            "request": console_flood.rpc_request_body(console_flood.BROKEN, REPLY_QUEUE, msg_id),
            "reply": console_flood.rpc_reply_body(console_flood.failure_spew(REPLY_BYTES), msg_id),
        }
        counts = {"compute.cc11": ("request", 2)}
        if not healthy:
            counts.update(BACKLOG)
        self.rabbit.publish((*QUEUES, REPLY_QUEUE), bodies, counts)

    # ------------------------------------------------------------ inventory and status

    def _write_inventory(self, state: LabState, files: netns.SshFiles) -> None:
        hosts: dict[str, object] = {}
        for h in HOSTS:
            host_vars: dict[str, object] = {"netns": h.netns}
            if h.role == "compute":
                host_vars["instances_path"] = str(self.instances_path(h))
            else:
                host_vars["nova_api_log"] = str(self.nova_api_log())
            hosts[h.name] = {"address": h.mgmt_ip, "port": 22, "roles": [h.role], "vars": host_vars}
        doc = {
            "name": "rabbit-hole-lab",
            "ssh": {
                "known_hosts": str(files.known_hosts),
                "client_keys": [str(files.client_key)],
                "username": "root",
            },
            "hosts": hosts,
        }
        header = f"# written by `cloudtales lab up {self.name}` ({state.mode})\n"
        self.inventory_path().write_text(header + yaml.safe_dump(doc, sort_keys=False))

    def _info(self, state: LabState) -> LabInfo:
        return LabInfo(
            name=self.name,
            inventory_path=self.inventory_path(),
            mode=state.mode,
            healthy=state.healthy,
            hosts=[h.name for h in HOSTS],
        )

    def _problems(self, state: LabState) -> list[str]:
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
        if state.mode == MODE and CONTROLLER.netns in present and not self.rabbit.pids():
            problems.append("RabbitMQ (beam.smp) not running on the controller")
        log = self.broken_console_log()
        want = 0 if state.healthy else console_flood.HUGE_CONSOLE_BYTES
        size = log.stat().st_size if log.exists() else None
        if size is None or (size >= console_flood.HUGE_CONSOLE_BYTES) != bool(want):
            problems.append(f"{log} is not as built ({size} bytes)")
        if not self.inventory_path().exists():
            problems.append(f"{self.inventory_path()} missing")
        return problems

    def _describe(self, state: LabState) -> list[str]:
        summary = [state.mode, "healthy" if state.healthy else "faulty"]
        if "up_seconds" in state.extra:
            summary.append(f"built in {state.extra['up_seconds']} s")
        lines = [", ".join(summary)]
        if "rabbitmq_start_seconds" in state.extra:
            beams = self.rabbit.pids()
            lines.append(
                f"rabbitmq-server started in {state.extra['rabbitmq_start_seconds']} s; "
                f"beam.smp pid {beams[0] if beams else 'dead'}"
            )
        sshds = [
            f"{h.name} {h.mgmt_ip}:22 pid {netns.sshd_pid(self.run_dir, h.name) or 'dead'}"
            for h in HOSTS
        ]
        lines.append("sshd: " + ", ".join(sshds))
        log = self.broken_console_log()
        if log.exists():
            st = log.stat()
            lines.append(
                f"cc12 {console_flood.BROKEN.name} console.log: {st.st_size} bytes "
                f"({st.st_blocks * 512} allocated)"
            )
        if self.inventory_path().exists():
            lines.append(f"inventory: {self.inventory_path()}")
        return lines
