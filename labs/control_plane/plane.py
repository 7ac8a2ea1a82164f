"""A real OpenStack control plane in a lab's namespaces: keystone, glance, placement, nova.

Any lab can add one. The controller's namespace runs the lab's MariaDB and RabbitMQ
(``labs/services``), keystone (fernet), glance (file store), placement and nova-api
under gunicorn from the lab's own venv (``labs/control_plane/venv.py``), plus
nova-conductor and nova-scheduler; each compute's namespace runs nova-compute on
``fake.FakeDriver`` with its ``/etc/nova/nova.conf`` under ``/etc/netns/NS/nova``
(``ip netns exec`` binds it over /etc, for nova-compute and the host's ssh sessions
alike). Neutron is left out, so nova's API answers a server's GET with a 500 (it asks
the network API for security groups); services and hypervisors answer. Tried: neutron
29.0.0 (7 packages more on these pins) under gunicorn answers once every model is
imported and ``sqlalchemy.orm.configure_mappers()`` runs in ``post_worker_init`` (else
GET /v2.0/ports fails on ``Port.port_forwardings``), but nova-api's calls to it still
got 401 (a direct token passed): not solved in the time there was.

Why the 500, exactly (nova 34.0.0, measured): ``GET /servers/ID`` ends in
``views/servers.py`` ``show(..., show_sec_grp=True)`` (hard-coded for GET), which calls
``security_group_api.get_instances_security_groups_bindings`` -> ``neutronapi.get_client``
-> ``keystoneauth1 EndpointNotFound`` (no ``network`` service in the catalogue); the
body says ``computeFault ... EndpointNotFound``. ``/servers/detail`` does the same for
every server; no nova option skips it (only PUT below microversion 2.75 omits security
groups, and a read-only tool does not PUT). What answers without neutron: the basic
``GET /servers`` (id, name) and ``GET /os-hypervisors/detail?with_servers=true``
(microversion 2.53), whose server lists carry each server's UUID and instance name
(``instance-00000001``) under its compute: ``investigate --server`` falls back to them
when server show answers 5xx (``engine/sources/api_client.py``).

The databases are created and synced with the services' own tools (``keystone-manage``,
``glance-manage``, ``placement-manage``, ``nova-manage``), four chains at once.
Keystone's users, services and endpoints, glance's image and nova's flavor go through
openstacksdk from the root namespace, as an operator would.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import CloudtalesError
from labs.control_plane import configs
from labs.control_plane.configs import Site, WsgiApp
from labs.core import netns
from labs.services.mariadb_server import MariaDbServer
from labs.services.rabbitmq_node import RabbitNode

Say = Callable[[str], None]
DAEMONS = ("nova-conductor", "nova-scheduler")
API_TIMEOUT = 120.0
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


@dataclass(frozen=True)
class ComputeNode:
    name: str  # the inventory name is nova's ``host``
    netns: str
    address: str


@dataclass
class ControlPlane:
    site: Site
    venv: Path
    controller_ns: str
    computes: tuple[ComputeNode, ...]
    db: MariaDbServer
    rabbit: RabbitNode
    etc_netns: Path = Path("/etc/netns")
    timings: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------ paths

    @property
    def home(self) -> Path:
        return self.site.home

    def etc(self, name: str) -> Path:
        return self.home / "etc" / name

    def compute_conf(self, node: ComputeNode) -> Path:
        return self.etc_netns / node.netns / "nova" / "nova.conf"

    def compute_log(self, node: ComputeNode) -> Path:
        return self.home / "log" / f"nova-compute-{node.name}.log"

    def bin(self, tool: str) -> str:
        return str(self.venv / "bin" / tool)

    # ------------------------------------------------------------ configuration

    def write_configs(self) -> None:
        for sub in ("log", "run", "images/fs", "state/lock", "keystone"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        shipped = self.venv / "etc"
        files = {
            self.etc("keystone") / "keystone.conf": configs.keystone_conf(self.site),
            self.etc("glance") / "glance-api.conf": configs.glance_conf(self.site),
            self.etc("placement") / "placement.conf": configs.placement_conf(self.site),
            self.etc("nova") / "nova.conf": configs.controller_nova_conf(self.site),
        }
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        shutil.copy(shipped / "nova" / "api-paste.ini", self.etc("nova"))
        shutil.copy(shipped / "glance" / "glance-api-paste.ini", self.etc("glance"))
        for app in configs.WSGI_APPS:
            d = self.home / "wsgi" / app.name
            d.mkdir(parents=True, exist_ok=True)
            (d / "gunicorn.conf.py").write_text(configs.gunicorn_conf(self.site, app))
        for node in self.computes:
            self.write_compute_conf(node)

    def write_compute_conf(self, node: ComputeNode, rabbit_password: str | None = None) -> None:
        conf = self.compute_conf(node)
        conf.parent.mkdir(parents=True, exist_ok=True)
        (self.home / "state" / node.name / "lock").mkdir(parents=True, exist_ok=True)
        text = configs.compute_nova_conf(
            self.site, node.name, self.compute_log(node), rabbit_password
        )
        conf.write_text(text)
        conf.chmod(0o640)

    # ------------------------------------------------------------ backends

    def prepare_databases(self) -> None:
        """The services' databases and the ``openstack`` DB user."""
        pw = self.site.secrets.db
        with self.db.root_connection() as conn, conn.cursor() as cur:
            for name in configs.DATABASES:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS `{name}`")
            cur.execute("CREATE USER IF NOT EXISTS 'openstack'@'%%' IDENTIFIED BY %s", (pw,))
            cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'openstack'@'%'")

    def prepare_rabbit(self) -> None:
        """The ``nova`` RabbitMQ user (the node must be up)."""
        self.rabbit.rabbitmqctl("add_user", "nova", self.site.secrets.rabbit)
        self.rabbit.rabbitmqctl("set_permissions", "nova", ".*", ".*", ".*")

    def sync_databases(self, say: Say) -> None:
        """Four chains at once: keystone, glance, placement, nova (api, cell0, cell1)."""
        ks = ["--config-file", str(self.etc("keystone") / "keystone.conf")]
        nova = [self.bin("nova-manage"), "--config-file", str(self.etc("nova") / "nova.conf")]
        keys = ["--keystone-user", "root", "--keystone-group", "root"]
        chains = {
            "keystone": [
                [self.bin("keystone-manage"), *ks, "db_sync"],
                [self.bin("keystone-manage"), *ks, "fernet_setup", *keys],
                [self.bin("keystone-manage"), *ks, "credential_setup", *keys],
                [
                    self.bin("keystone-manage"),
                    *ks,
                    "bootstrap",
                    "--bootstrap-password",
                    self.site.secrets.admin,
                    "--bootstrap-public-url",
                    self.site.keystone_url,
                    "--bootstrap-internal-url",
                    self.site.keystone_url,
                    "--bootstrap-admin-url",
                    self.site.keystone_url,
                    "--bootstrap-region-id",
                    self.site.region,
                ],
            ],  # fmt: skip
            "glance": [
                [
                    self.bin("glance-manage"),
                    "--config-file",
                    str(self.etc("glance") / "glance-api.conf"),
                    "db_sync",
                ],
            ],  # fmt: skip
            "placement": [
                [
                    self.bin("placement-manage"),
                    "--config-dir",
                    str(self.etc("placement")),
                    "db",
                    "sync",
                ],
            ],  # fmt: skip
            "nova": [
                [*nova, "api_db", "sync"],
                [*nova, "cell_v2", "map_cell0"],
                [*nova, "db", "sync"],
                [*nova, "cell_v2", "create_cell", "--name", "cell1"],
            ],
        }
        say("syncing the databases (keystone, glance, placement, nova: four chains at once)")
        started = time.monotonic()
        procs = {
            name: subprocess.Popen(
                self._chain(cmds), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            for name, cmds in chains.items()
        }
        for name, proc in procs.items():
            try:
                _, err = proc.communicate(timeout=300)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise CloudtalesError(f"{name} database sync timed out after 300 s") from None
            if proc.returncode != 0:
                raise CloudtalesError(f"{name} database sync failed: {_last_line(err)}")
        self.timings["db_sync"] = time.monotonic() - started

    def _chain(self, commands: list[list[str]]) -> list[str]:
        """One shell in the controller's namespace running ``commands`` in order."""
        script = " && ".join(subprocess.list2cmdline(c) for c in commands)
        return netns.in_ns(self.controller_ns, ["sh", "-c", script])

    # ------------------------------------------------------------ services

    def start_wsgi(self, app: WsgiApp) -> float:
        env = {**os.environ, app.env_var: str(self.etc(app.conf_dir))}
        started = time.monotonic()
        proc = subprocess.run(
            netns.in_ns(self.controller_ns, [self.bin("gunicorn")]),
            cwd=self.home / "wsgi" / app.name,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if proc.returncode != 0:
            raise CloudtalesError(f"gunicorn for {app.name} failed: {_last_line(proc.stderr)}")
        return started

    def wait_apis(self, starts: dict[str, tuple[WsgiApp, float]], say: Say) -> None:
        """Until every app answers, each polled by a thread of its own (gunicorn's
        master accepts at once and the request waits while the worker imports the app,
        so polling them in turn would give the later ones the earlier ones' time):
        seconds from its own gunicorn start to its first answer."""
        late: list[str] = []

        def poll(app: WsgiApp, started: float) -> None:
            url = f"http://{self.site.controller_ip}:{app.port}/"
            while not _http_answers(url):
                if time.monotonic() - started > API_TIMEOUT:
                    late.append(f"{app.name} did not answer on {url} within {API_TIMEOUT:g} s")
                    return
                time.sleep(0.2)
            self.timings[app.name] = time.monotonic() - started

        threads = [
            threading.Thread(target=poll, args=pair, name=f"{name} first answer", daemon=True)
            for name, pair in starts.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if late:
            first = late[0].split()[0]
            raise CloudtalesError(f"{late[0]}: see {self.site.log(first + '-gunicorn')}")
        for name, (app, _started) in starts.items():
            say(f"{name} answers on :{app.port} ({self.timings[name]:.1f} s)")

    def start_apis(self, say: Say) -> None:
        say("starting keystone, glance-api, placement-api, nova-api under gunicorn")
        starts = {app.name: (app, self.start_wsgi(app)) for app in configs.WSGI_APPS}
        self.wait_apis(starts, say)

    def watch_rabbit(self, started: float) -> threading.Thread:
        """A thread timing RabbitMQ from ``started`` to its first AMQP answer (a
        Connection.Start frame to the protocol header), while the build goes on."""

        def watch() -> None:
            while time.monotonic() - started < API_TIMEOUT:
                if _amqp_answers(self.site.controller_ip):
                    self.timings["rabbitmq"] = time.monotonic() - started
                    return
                time.sleep(0.1)

        thread = threading.Thread(target=watch, name="rabbitmq first answer", daemon=True)
        thread.start()
        return thread

    def start_daemon(self, ns: str, binary: str, conf: Path, out: Path) -> float:
        """Started detached; the instant it was started (``time.monotonic``)."""
        argv = netns.in_ns(ns, ["setsid", "-f", self.bin(binary), "--config-file", str(conf)])
        started = time.monotonic()
        with out.open("ab") as fh:
            subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=fh, stderr=fh, timeout=10)
        return started

    def start_controller_daemons(self) -> dict[tuple[str, str], float]:
        """(binary, nova host) -> its start instant, for ``cloud.wait_services_up``."""
        return {
            (binary, configs.CONTROLLER_HOST): self.start_daemon(
                self.controller_ns,
                binary,
                self.etc("nova") / "nova.conf",
                self.home / "log" / f"{binary}.out",
            )
            for binary in DAEMONS
        }

    def start_compute(self, node: ComputeNode) -> float:
        return self.start_daemon(
            node.netns,
            "nova-compute",
            Path("/etc/nova/nova.conf"),  # as the compute sees it: /etc/netns/NS/nova
            self.home / "log" / f"nova-compute-{node.name}.out",
        )

    def pids(self, ns: str, binary: str) -> list[int]:
        """The service's processes (oslo.service retitles them ``nova-conductor: ...``)."""
        return [p for p in netns.namespace_pids(ns) if _is(binary, netns.cmdline(p)[:2])]

    def stop_compute(self, node: ComputeNode) -> list[int]:
        return netns.stop_pids(self.pids(node.netns, "nova-compute"), timeout=10.0)

    def discover_hosts(self) -> None:
        nova = [self.bin("nova-manage"), "--config-file", str(self.etc("nova") / "nova.conf")]
        netns.run(
            netns.in_ns(self.controller_ns, [*nova, "cell_v2", "discover_hosts"]), timeout=120
        )

    # ------------------------------------------------------------ status

    def service_lines(self) -> list[str]:
        ip = self.site.controller_ip
        lines = []
        for app in configs.WSGI_APPS:
            pid = _pid_file(self.home / "run" / f"{app.name}.pid")
            took = self.timings.get(app.name)
            lines.append(
                f"{app.name}: http://{ip}:{app.port}{app.url_suffix} (gunicorn pid "
                f"{pid or 'dead'}" + (f", up in {took:.1f} s)" if took else ")")
            )
        for binary in DAEMONS:
            pids = self.pids(self.controller_ns, binary)
            lines.append(
                f"{binary}: controller, pid {pids[0] if pids else 'dead'}"
                + self._up_in(binary, configs.CONTROLLER_HOST)
            )
        for node in self.computes:
            pids = self.pids(node.netns, "nova-compute")
            lines.append(
                f"nova-compute: {node.name} ({node.address}), fake.FakeDriver, "
                f"pid {pids[0] if pids else 'not running'}" + self._up_in("nova-compute", node.name)
            )
        return lines

    def _up_in(self, binary: str, host: str) -> str:
        took = self.timings.get(f"{binary} {host}")
        return f", up in the service list {took:.1f} s after start" if took else ""

    def problems(self) -> list[str]:
        out = []
        for app in configs.WSGI_APPS:
            if not _pid_file(self.home / "run" / f"{app.name}.pid"):
                out.append(f"{app.name} (gunicorn) not running")
        out += [f"{b} not running" for b in DAEMONS if not self.pids(self.controller_ns, b)]
        return out


def _is(binary: str, argv: list[str]) -> bool:
    return any(a.endswith("/" + binary) or a.startswith(binary + ":") for a in argv)


def _pid_file(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if netns.pid_alive(pid) else None


def _http_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except urllib.error.HTTPError:
        return True  # it answered: 300 Multiple Choices on / is the version document
    except (OSError, ValueError):
        return False


def _amqp_answers(address: str, port: int = 5672) -> bool:
    """The broker answers the AMQP 0-9-1 header with a method frame (Connection.Start)."""
    try:
        with socket.create_connection((address, port), timeout=1.0) as sock:
            sock.settimeout(2.0)
            sock.sendall(AMQP_HEADER)
            return sock.recv(1)[:1] == b"\x01"
    except OSError:
        return False


def _last_line(text: str | None) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"
