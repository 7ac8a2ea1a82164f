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

from datetime import datetime
from pathlib import Path

from labs.core import netns, tenant
from labs.core.base import LabState, Progress
from labs.core.host_plan import HostPlan, inventory_entry, mgmt_ports, ssh_hosts
from labs.core.netns_lab import ETC_NETNS, NetnsLab, wire_mgmt_bridge
from labs.rabbit_hole import console_flood
from labs.services import rabbitmq_node
from labs.services.rabbitmq_node import RabbitNode

MODE = "netns+rabbitmq"
MODE_NO_RABBIT = "netns"
NS_PREFIX = "ct-rh-"
ROOT_PREFIX = "ctrh-"
MGMT_BRIDGE = f"{ROOT_PREFIX}mgmt"
MGMT_NET = "10.250.5.0/24"
MGMT_GATEWAY = "10.250.5.254/24"
REPLY_QUEUE = "reply_5f2d8c1e9a7b4e3f8d6c0b1a2e4f7c9d"
QUEUES = ("compute", "compute.cc11", "compute.cc12", "conductor", "scheduler", "consoleauth")
REPLY_BYTES = 4 * 1024 * 1024
BACKLOG = {"compute.cc12": ("request", 40), REPLY_QUEUE: ("reply", 24)}  # faulty only


CONTROLLER = HostPlan(NS_PREFIX, "controller", "10.250.5.1", "ctrh-ctl")
CC11 = HostPlan(NS_PREFIX, "cc11", "10.250.5.2", "ctrh-cc11", role="compute")
CC12 = HostPlan(NS_PREFIX, "cc12", "10.250.5.3", "ctrh-cc12", role="compute")
HOSTS = (CONTROLLER, CC11, CC12)
COMPUTES = (CC11, CC12)
SSH_HOSTS = ssh_hosts(HOSTS)


class RabbitHoleLab(NetnsLab):
    name = "rabbit-hole"
    title = "Down the Rabbit Hole"
    ns_prefix = NS_PREFIX
    root_prefix = ROOT_PREFIX
    mgmt_bridge = MGMT_BRIDGE
    mgmt_net = MGMT_NET
    host_names = tuple(h.name for h in HOSTS)
    # a stopping RabbitMQ node may start epmd again: a few rounds until the namespaces are empty
    stop_rounds = 3
    stop_timeout = 5.0

    # ------------------------------------------------------------ paths

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

    # ------------------------------------------------------------ life cycle hooks

    def _choose_mode(self, state: LabState | None, progress: Progress) -> str:
        if not rabbitmq_node.installed():
            return MODE_NO_RABBIT
        netns.require_tools(rabbitmq_node.TOOLS)
        return MODE

    def _stop_extras(self, state: LabState | None) -> list[str]:
        # RabbitMQ first, so that it stops cleanly
        beam = self.rabbit.pids() if CONTROLLER.netns in netns.namespaces(NS_PREFIX) else []
        return [f"RabbitMQ pid {pid}" for pid in netns.stop_pids(beam, timeout=15.0)]

    # ------------------------------------------------------------ building

    def _build(self, state: LabState, progress: Progress) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tenant.make_shared_dirs(state, self._state_path, (ETC_NETNS,))

        progress("creating namespaces")
        for h in HOSTS:
            netns.add_namespace(h.netns)
        progress("wiring the management network")
        wire_mgmt_bridge(MGMT_BRIDGE, MGMT_GATEWAY, mgmt_ports(HOSTS))

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

        files = self._start_ssh(SSH_HOSTS, progress)

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
            if h in COMPUTES:
                host_vars["instances_path"] = str(self.instances_path(h))
            else:
                host_vars["nova_api_log"] = str(self.nova_api_log())
            hosts[h.name] = inventory_entry(h, host_vars)
        self._write_inventory_doc(files, hosts, state.mode)

    def _problems(self, state: LabState) -> list[str]:
        problems = self._base_problems([h.netns for h in HOSTS], [h.name for h in HOSTS])
        present = set(netns.namespaces(NS_PREFIX))
        if state.mode == MODE and CONTROLLER.netns in present and not self.rabbit.pids():
            problems.append("RabbitMQ (beam.smp) not running on the controller")
        log = self.broken_console_log()
        want = 0 if state.healthy else console_flood.HUGE_CONSOLE_BYTES
        size = log.stat().st_size if log.exists() else None
        if size is None or (size >= console_flood.HUGE_CONSOLE_BYTES) != bool(want):
            problems.append(f"{log} is not as built ({size} bytes)")
        return problems + self._inventory_problems()

    def _describe(self, state: LabState) -> list[str]:
        lines = [self._summary(state)]
        if "rabbitmq_start_seconds" in state.extra:
            beams = self.rabbit.pids()
            lines.append(
                f"rabbitmq-server started in {state.extra['rabbitmq_start_seconds']} s; "
                f"beam.smp pid {beams[0] if beams else 'dead'}"
            )
        lines.append(self._sshd_line((h.name, h.mgmt_ip) for h in HOSTS))
        log = self.broken_console_log()
        if log.exists():
            st = log.stat()
            lines.append(
                f"cc12 {console_flood.BROKEN.name} console.log: {st.st_size} bytes "
                f"({st.st_blocks * 512} allocated)"
            )
        return lines + self._inventory_lines()
