""" "nova shows a compute service down" as a lab, on a real OpenStack control plane.

Hosts (network namespaces ``ct-cs-*``), each with real OpenSSH on a management
network bridged in the root namespace (``ctcs-mgmt``, 10.250.24.0/24)::

    controller 10.250.24.1  MariaDB, RabbitMQ, keystone, glance, placement, nova-api
                            (gunicorn), nova-conductor, nova-scheduler
    compute-1  10.250.24.2  nova-compute (fake.FakeDriver)
    compute-2  10.250.24.3  nova-compute (fake.FakeDriver): the fault

All of it is ``labs/control_plane`` from the lab's own venv. Both computes start
healthy and report in; then compute-2 gets its fault, and the lab waits until nova's
own API lists it ``down`` (``service_down_time`` 15 s):

* ``rabbit-auth`` (default): compute-2's ``transport_url`` carries a wrong password
  and nova-compute is restarted: the broker refuses its login (ACCESS_REFUSED);
* ``stopped``: nova-compute is stopped on compute-2;
* ``rabbit-unreachable``: an nftables table in compute-2 drops its traffic to
  RabbitMQ (10.250.24.1:5672); the connection it had dies on missed heartbeats;
* ``hung``: nova-compute on compute-2 is frozen (SIGSTOP): the process is there, its
  log says nothing new, the broker still answers a connect, and nova hears nothing.
  The drill ends inconclusive after the clock check (every namespace shares one
  clock), so it is a lab fault, not a drill fault: it records the path to the clock.

``--healthy``: both computes up. The lab writes ``clouds.yaml`` (cloud
``compute-service-down-lab``) and names it on the controller in the inventory. One
server, ``web-01`` (``networks: none``), runs on compute-1 in every mode:
``cloudtales investigate --server web-01`` resolves it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from pathlib import Path
from typing import Any

from engine.errors import CloudtalesError
from labs.compute_service_down import domain_stand_in
from labs.control_plane import cloud, venv
from labs.control_plane.configs import Secrets, Site
from labs.control_plane.plane import ComputeNode, ControlPlane
from labs.core import netns
from labs.core.base import LabState, Progress
from labs.core.host_plan import HostPlan, inventory_entry, mgmt_ports, ssh_hosts
from labs.core.netns_lab import ETC_NETNS, NetnsLab, no_ipv6, wire_mgmt_bridge
from labs.core.tenant import make_shared_dirs
from labs.services import rabbitmq_node
from labs.services.mariadb_server import TOOLS as MARIADB_TOOLS
from labs.services.mariadb_server import MariaDbServer
from labs.services.rabbitmq_node import RabbitNode

NS_PREFIX = "ct-cs-"
ROOT_PREFIX = "ctcs-"
MGMT_BRIDGE = f"{ROOT_PREFIX}mgmt"
MGMT_NET = "10.250.24.0/24"
MGMT_GATEWAY = "10.250.24.254/24"
CLOUD = "compute-service-down-lab"
RABBIT_AUTH = "rabbit-auth"
STOPPED = "stopped"
RABBIT_UNREACHABLE = "rabbit-unreachable"
HUNG = "hung"
FAULTS = (RABBIT_AUTH, STOPPED, RABBIT_UNREACHABLE, HUNG)
NFT_TABLE = "cloudtales_fault"
WRONG_PASSWORD = "not-the-rabbit-password"
TOOLS = {**MARIADB_TOOLS, **rabbitmq_node.TOOLS, "nft": "nftables"}


CONTROLLER = HostPlan(NS_PREFIX, "controller", "10.250.24.1", "ctcs-ctl")
COMPUTE1 = HostPlan(NS_PREFIX, "compute-1", "10.250.24.2", "ctcs-c1", role="compute")
COMPUTE2 = HostPlan(NS_PREFIX, "compute-2", "10.250.24.3", "ctcs-c2", role="compute")
HOSTS = (CONTROLLER, COMPUTE1, COMPUTE2)
COMPUTES = (COMPUTE1, COMPUTE2)
FAULTY = COMPUTE2
SERVER = "web-01"  # booted on the healthy compute: `investigate --server web-01`
SERVER_HOST = COMPUTE1
SSH_HOSTS = ssh_hosts(HOSTS)
NOVA_CONF = "/etc/nova/nova.conf"


class ComputeServiceDownLab(NetnsLab):
    name = "compute-service-down"
    title = "Compute service down"
    ns_prefix = NS_PREFIX
    root_prefix = ROOT_PREFIX
    mgmt_bridge = MGMT_BRIDGE
    mgmt_net = MGMT_NET
    tools = TOOLS
    host_names = tuple(h.name for h in HOSTS)
    mode = RABBIT_AUTH
    stop_rounds = 3
    stop_timeout = 10.0

    def __init__(self, fault: str = RABBIT_AUTH) -> None:
        super().__init__()
        self.select_fault(fault)

    def select_fault(self, fault: str) -> None:
        if fault not in FAULTS:
            raise CloudtalesError(
                f"lab {self.name}: unknown fault {fault!r} (known: {', '.join(FAULTS)})"
            )
        self.fault = fault

    def _choose_mode(self, state: LabState | None, progress: Progress) -> str:
        return self.fault

    # ------------------------------------------------------------ pieces

    @property
    def clouds_path(self) -> Path:
        return self.run_dir / "clouds.yaml"

    def plane(self, state: LabState) -> ControlPlane:
        site = Site(
            CONTROLLER.mgmt_ip, self.run_dir / "cp", Secrets.from_mapping(state.extra["secrets"])
        )
        return ControlPlane(
            site=site,
            venv=Path(state.extra["venv"]),
            controller_ns=CONTROLLER.netns,
            computes=tuple(ComputeNode(h.name, h.netns, h.mgmt_ip) for h in COMPUTES),
            db=MariaDbServer(self.run_dir / "mysql", CONTROLLER.netns, address="0.0.0.0"),
            rabbit=RabbitNode(CONTROLLER.netns, self.run_dir / "rabbitmq", ETC_NETNS),
        )

    def _stop_extras(self, state: LabState | None) -> list[str]:
        present = netns.namespaces(NS_PREFIX)
        if FAULTY.netns in present:  # a frozen nova-compute (``hung``) must see SIGTERM
            for pid in netns.namespace_pids(FAULTY.netns):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
        if CONTROLLER.netns not in present:
            return []
        rabbit = RabbitNode(CONTROLLER.netns, self.run_dir / "rabbitmq", ETC_NETNS)
        stopped = [f"RabbitMQ pid {p}" for p in netns.stop_pids(rabbit.pids(), timeout=15.0)]
        db = MariaDbServer(self.run_dir / "mysql", CONTROLLER.netns, address="0.0.0.0")
        return stopped + [f"mariadbd pid {pid}" for pid in db.stop()]

    # ------------------------------------------------------------ building

    def _build(self, state: LabState, progress: Progress) -> None:
        started = time.monotonic()
        state.extra["venv"] = str(venv.ensure(progress=progress))
        state.extra["venv_seconds"] = round(time.monotonic() - started, 1)
        state.extra["secrets"] = {
            k: secrets.token_hex(12) for k in ("admin", "service", "db", "rabbit")
        }
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.chmod(0o711)
        # ip netns exec binds /etc/netns/NS/nova over /etc/nova; shared with other labs
        make_shared_dirs(
            state, self._state_path, (ETC_NETNS, Path("/etc/nova"), Path("/etc/libvirt"))
        )
        # before sshd starts: its namespace's binds are made when it is exec'd
        domain_stand_in.qemu_dir(SERVER_HOST.netns).mkdir(parents=True, exist_ok=True)
        plane = self.plane(state)

        progress("creating namespaces and the management network")
        for h in HOSTS:
            netns.add_namespace(h.netns, no_ipv6())
            netns.link_up("lo", ns=h.netns)
        wire_mgmt_bridge(MGMT_BRIDGE, MGMT_GATEWAY, mgmt_ports(HOSTS))
        progress("starting RabbitMQ and MariaDB on the controller")
        rabbit_started = plane.rabbit.start()
        rabbit_watch = plane.watch_rabbit(rabbit_started)
        plane.db.install()
        t = time.monotonic()
        plane.db.start()
        plane.timings["mariadb"] = time.monotonic() - t
        progress(f"mariadbd answers ({plane.timings['mariadb']:.1f} s)")
        plane.write_configs()
        files = self._start_ssh(SSH_HOSTS, progress)
        plane.prepare_databases()
        plane.sync_databases(progress)
        state.extra["rabbitmq_start_seconds"] = round(plane.rabbit.wait(rabbit_started), 1)
        rabbit_watch.join(timeout=10.0)
        if "rabbitmq" in plane.timings:
            progress(f"RabbitMQ answered AMQP {plane.timings['rabbitmq']:.1f} s after its start")
        plane.prepare_rabbit()
        plane.start_apis(progress)

        self.clouds_path.write_text(cloud.clouds_yaml(plane.site, CLOUD))
        self.clouds_path.chmod(0o600)
        conn = cloud.connect(self.clouds_path, CLOUD)
        progress("registering users, catalogue, image and flavor (openstacksdk)")
        t = time.monotonic()
        cloud.sdk_step("registering the catalogue", cloud.register, conn, plane.site)
        conn = cloud.connect(self.clouds_path, CLOUD)
        cloud.sdk_step("uploading the image and the flavor", cloud.seed, conn)
        plane.timings["register"] = time.monotonic() - t

        progress("starting nova-conductor, nova-scheduler and nova-compute x2")
        t = time.monotonic()
        starts = plane.start_controller_daemons()
        for node in plane.computes:
            starts["nova-compute", node.name] = plane.start_compute(node)
        up = cloud.sdk_step(
            "waiting for nova's services", cloud.wait_services_up, conn, starts, 180.0, progress
        )
        plane.timings.update({f"{b} {h}": s for (b, h), s in up.items()})
        plane.discover_hosts()
        plane.timings["nova-compute"] = time.monotonic() - t
        progress(f"both nova-compute services up ({plane.timings['nova-compute']:.1f} s)")
        t = time.monotonic()
        progress(f"booting server {SERVER} on {SERVER_HOST.name} (networks: none)")
        cloud.sdk_step("booting the server", cloud.boot, conn, [(SERVER, SERVER_HOST.name)])
        want_on = {SERVER: SERVER_HOST.name}
        cloud.sdk_step("waiting for the server", cloud.wait_servers, conn, want_on, 120.0)
        plane.timings["server"] = time.monotonic() - t
        self._define_domain(conn, progress)
        state.extra["timings"] = {k: round(v, 1) for k, v in plane.timings.items()}

        if not state.healthy:
            self._inject(plane, state.mode, progress)
            t = time.monotonic()
            down = {FAULTY.name: "down"}
            cloud.sdk_step(
                "waiting for nova to say down", cloud.wait_states, conn, down, 120.0, progress
            )
            state.extra["down_after_seconds"] = round(time.monotonic() - t, 1)
            progress(f"nova reports {FAULTY.name} down ({state.extra['down_after_seconds']} s)")
        self._write_inventory(state, files, plane)

    def _define_domain(self, conn: Any, progress: Progress) -> None:
        """The libvirt domain nova's libvirt driver would define (``domain_stand_in``)."""
        ids = {s.name: s.id for s in conn.compute.servers(details=False, all_projects=True)}
        uuid = ids[SERVER]
        name = cloud.sdk_step("reading the instance name", cloud.instance_names, conn)[uuid]
        dom = domain_stand_in.StandInDomain(name, uuid, SERVER)
        path = domain_stand_in.define(SERVER_HOST.netns, dom)
        progress(f"{SERVER_HOST.name}: libvirt domain stand-in {path.name}, tap {dom.tap}")

    def _inject(self, plane: ControlPlane, fault: str, progress: Progress) -> None:
        node = next(n for n in plane.computes if n.name == FAULTY.name)
        if fault == STOPPED:
            progress(f"stopping nova-compute on {node.name} (the fault)")
            plane.stop_compute(node)
        elif fault == RABBIT_AUTH:
            progress(f"a wrong RabbitMQ password in {node.name}'s transport_url (the fault)")
            plane.stop_compute(node)
            plane.write_compute_conf(node, rabbit_password=WRONG_PASSWORD)
            plane.start_compute(node)
        elif fault == HUNG:
            pids = plane.pids(node.netns, "nova-compute")
            progress(f"freezing nova-compute on {node.name} (SIGSTOP pid {pids}: the fault)")
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
        else:
            progress(f"nftables in {node.name} drops its traffic to RabbitMQ (the fault)")
            rule = (
                f"add table inet {NFT_TABLE}\n"
                f"add chain inet {NFT_TABLE} out {{ type filter hook output priority 0; }}\n"
                f"add rule inet {NFT_TABLE} out ip daddr {CONTROLLER.mgmt_ip} tcp dport 5672 drop\n"
            )
            netns.run(netns.in_ns(node.netns, ["nft", "-f", "-"]), input_text=rule)

    # ------------------------------------------------------------ inventory and status

    def _write_inventory(self, state: LabState, files: netns.SshFiles, plane: ControlPlane) -> None:
        hosts: dict[str, object] = {}
        for h in HOSTS:
            host_vars: dict[str, object] = {"netns": h.netns, "ip": h.mgmt_ip}
            if h is CONTROLLER:
                host_vars.update(
                    os_cloud=CLOUD,
                    clouds_path=str(self.clouds_path),
                    servers={SERVER: SERVER_HOST.name},
                    rabbitmq_address=CONTROLLER.mgmt_ip,
                    db_address=CONTROLLER.mgmt_ip,
                    nova_conf=str(plane.etc("nova") / "nova.conf"),
                )
            else:
                node = next(n for n in plane.computes if n.name == h.name)
                host_vars.update(nova_conf=NOVA_CONF, nova_compute_log=str(plane.compute_log(node)))
            hosts[h.name] = inventory_entry(h, host_vars)
        self._write_inventory_doc(files, hosts, state.mode)

    def _problems(self, state: LabState) -> list[str]:
        problems = self._base_problems([h.netns for h in HOSTS], [h.name for h in HOSTS])
        if "secrets" not in state.extra or "venv" not in state.extra:
            return [*problems, "build did not get as far as the control plane"]
        if CONTROLLER.netns not in netns.namespaces(NS_PREFIX):
            return problems
        plane = self.plane(state)
        if plane.db.pid() is None:
            problems.append("mariadbd not running on the controller")
        if not plane.rabbit.pids():
            problems.append("RabbitMQ (beam.smp) not running on the controller")
        problems += plane.problems()
        return problems + self._inventory_problems()

    def _describe(self, state: LabState) -> list[str]:
        lines = [self._summary(state) + f", fault {state.mode} on {FAULTY.name}"]
        if "secrets" not in state.extra or CONTROLLER.netns not in netns.namespaces(NS_PREFIX):
            return lines
        plane = self.plane(state)
        plane.timings.update(state.extra.get("timings", {}))
        lines.append(
            f"venv: {state.extra['venv']} (ready in {state.extra.get('venv_seconds', '?')} s)"
        )
        lines.append(
            f"mariadbd: {CONTROLLER.mgmt_ip}:3306 pid {plane.db.pid() or 'dead'} (answered in "
            f"{plane.timings.get('mariadb', '?')} s); rabbitmq: {CONTROLLER.mgmt_ip}:5672 "
            f"(first AMQP answer {plane.timings.get('rabbitmq', '?')} s after start, "
            f"waited for at {state.extra.get('rabbitmq_start_seconds')} s)"
        )
        lines += plane.service_lines()
        t = state.extra.get("timings", {})
        lines.append(
            f"db sync {t.get('db_sync')} s, register {t.get('register')} s, "
            f"server {SERVER} on {SERVER_HOST.name} in {t.get('server')} s"
            + (
                f", down after {state.extra['down_after_seconds']} s"
                if "down_after_seconds" in state.extra
                else ""
            )
        )
        lines.append(f"clouds.yaml: {self.clouds_path} (cloud {CLOUD})")
        lines.append(self._sshd_line((h.name, h.mgmt_ip) for h in HOSTS))
        return lines + self._inventory_lines()
