"""The "Havana Haunted by the Dead" tale as a lab: nova's database full of the dead.

One host, the controller (namespace ``ct-hv-controller``, 10.250.6.1 on the
management bridge ``cthv-mgmt``, 10.250.6.0/24), with real OpenSSH and a REAL
MariaDB (``labs/services/mariadb_server.py``) listening on 127.0.0.1:3306 inside the
controller's namespace, as nova's database usually sits on the controller. Its
``nova`` database has nova's real schema, every table and its ``shadow_*`` copy as
``nova-manage db sync`` (nova 34) makes them (``labs/havana/nova_schema.py``), filled
(``labs/havana/nova_db_schema.py``) as in the tale: 300,000 deleted or errored
instances and 1,000,000 instance_system_metadata rows beside 300 live instances. The
controller's ``/etc/nova/nova.conf`` points nova at it with a real user and password::

    [database]
    connection = mysql+pymysql://nova:PASSWORD@127.0.0.1/nova

and ``/var/log/nova/nova-api.log`` holds two hours of nova-api requests
(``labs/havana/api_log.py``: nova-api itself cannot run here) with ``RunInstances``
taking over two minutes. Both paths exist only in the controller's view: after
sshd starts, its mount namespace gets an overlay on ``/etc`` (upper layer under the
lab's run dir) and a bind mount on ``/var/log``, so nothing is added to the
machine's own /etc or /var/log. The engine reaches the database the production
way: nova.conf over SSH, then an SSH port forward to 127.0.0.1:3306 as the
controller sees it.

``--healthy``: a few hundred instances, few deleted, archived regularly, and an
API answering RunInstances in 3-5 s.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from pathlib import Path

from engine.errors import CloudtalesError
from labs.core import netns
from labs.core.base import LabState, Progress
from labs.core.netns_lab import NetnsLab, wire_mgmt_bridge
from labs.havana import nova_db_schema, nova_schema
from labs.havana.api_log import api_log
from labs.services.mariadb_server import TOOLS as MARIADB_TOOLS
from labs.services.mariadb_server import MariaDbServer

MODE = "netns+mariadb"
NS_PREFIX = "ct-hv-"
ROOT_PREFIX = "cthv-"
MGMT_BRIDGE = f"{ROOT_PREFIX}mgmt"
MGMT_NET = "10.250.6.0/24"
MGMT_GATEWAY = "10.250.6.254/24"
CONTROLLER = "controller"
CONTROLLER_NS = f"{NS_PREFIX}{CONTROLLER}"
CONTROLLER_IP = "10.250.6.1"
ROOT_VETH = f"{ROOT_PREFIX}ctl"
SSH_HOST = netns.SshHost(CONTROLLER, CONTROLLER_NS, CONTROLLER_IP)
NOVA_CONF = "/etc/nova/nova.conf"
NOVA_API_LOG = "/var/log/nova/nova-api.log"
DB_NAME = "nova"
DB_USER = "nova"
TOOLS = {**netns.BASE_TOOLS, **MARIADB_TOOLS, "nsenter": "util-linux", "mount": "mount"}


def nova_conf(password: str) -> str:
    return (
        "[DEFAULT]\n"
        f"my_ip = {CONTROLLER_IP}\n"
        "enabled_apis = ec2,osapi_compute,metadata\n"
        "ec2_listen = 0.0.0.0\n"
        "ec2_listen_port = 8773\n"
        "log_dir = /var/log/nova\n"
        "compute_driver = libvirt.LibvirtDriver\n"
        "\n"
        "[database]\n"
        f"connection = mysql+pymysql://{DB_USER}:{password}@127.0.0.1/{DB_NAME}\n"
        "max_pool_size = 10\n"
    )


class HavanaLab(NetnsLab):
    name = "havana"
    title = "Havana Haunted by the Dead"
    ns_prefix = NS_PREFIX
    root_prefix = ROOT_PREFIX
    mgmt_bridge = MGMT_BRIDGE
    mgmt_net = MGMT_NET
    mode = MODE
    tools = TOOLS
    host_names = (CONTROLLER,)

    def __init__(self) -> None:
        super().__init__()
        self.db = MariaDbServer(self.run_dir / "mysql", CONTROLLER_NS)
        self._schema_seconds = 0.0

    # ------------------------------------------------------------ paths

    @property
    def host_dir(self) -> Path:
        return netns.sshd_dir(self.run_dir, CONTROLLER)

    @property
    def etc_upper(self) -> Path:
        """The controller's own layer over /etc (holds nova/nova.conf)."""
        return self.host_dir / "etc-upper"

    @property
    def var_log(self) -> Path:
        """Bound over /var/log in the controller's view."""
        return self.host_dir / "var-log"

    # ------------------------------------------------------------ life cycle hooks

    def _stop_extras(self, state: LabState | None) -> list[str]:
        return [f"mariadbd pid {pid}" for pid in self.db.stop()]

    # ------------------------------------------------------------ building

    def _build(self, state: LabState, progress: Progress) -> None:
        progress("creating the controller namespace and the management network")
        netns.add_namespace(CONTROLLER_NS)
        ports = [(CONTROLLER_NS, ROOT_VETH, "mgmt0", CONTROLLER_IP)]
        wire_mgmt_bridge(MGMT_BRIDGE, MGMT_GATEWAY, ports)

        progress("installing a MariaDB datadir and starting mariadbd in the controller")
        self.db.install()
        state.extra["mariadbd_pid"] = self.db.start()

        password = secrets.token_urlsafe(18)
        plan = nova_db_schema.HEALTHY if state.healthy else nova_db_schema.FAULTY
        seconds = self._seed(password, plan, progress)
        state.extra["seed_seconds"] = round(seconds, 2)
        state.extra["schema_seconds"] = round(self._schema_seconds, 2)
        state.extra["seed_rows"] = plan.instances + plan.system_metadata + plan.user_metadata
        progress(f"seeded nova's database in {seconds:.1f} s")

        progress("writing /etc/nova/nova.conf and /var/log/nova/nova-api.log")
        conf = self.etc_upper / "nova" / "nova.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(nova_conf(password))
        conf.chmod(0o640)
        log = self.var_log / "nova" / "nova-api.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(api_log(state.healthy, dt.datetime.now()))

        progress("generating ssh keys and starting sshd")
        files = netns.prepare_ssh(self.run_dir, (SSH_HOST,), comment="cloudtales-havana")
        pid = netns.start_sshds(self.run_dir, (SSH_HOST,))[CONTROLLER]
        self._mount_views(pid)

        progress("writing inventory")
        self._write_inventory(files)

    def _seed(self, password: str, plan: nova_db_schema.SeedPlan, progress: Progress) -> float:
        """Schema, then rows; a statement MariaDB refuses is one line, not a traceback."""
        import pymysql

        try:
            return self._seed_rows(password, plan, progress)
        except pymysql.MySQLError as err:
            code, said = (err.args + ("", ""))[:2]
            raise CloudtalesError(
                f"lab {self.name}: seeding nova's database failed: MariaDB error {code}: {said}"
            ) from None

    def _seed_rows(self, password: str, plan: nova_db_schema.SeedPlan, progress: Progress) -> float:
        started = time.monotonic()
        with self.db.root_connection() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {DB_NAME} DEFAULT CHARACTER SET utf8mb3")
            for host in ("127.0.0.1", "localhost"):
                cur.execute(f"CREATE USER '{DB_USER}'@'{host}' IDENTIFIED BY %s", (password,))
                cur.execute(f"GRANT ALL PRIVILEGES ON {DB_NAME}.* TO '{DB_USER}'@'{host}'")
            cur.execute(f"USE {DB_NAME}")
            schema_started = time.monotonic()
            tables = nova_schema.load(cur)
            self._schema_seconds = time.monotonic() - schema_started
            progress(f"loaded nova's schema ({tables} statements) in {self._schema_seconds:.1f} s")
            nova_db_schema.load_seed(conn, plan, self.run_dir / "seed", progress)
        return time.monotonic() - started

    def _mount_views(self, sshd_pid: int) -> None:
        """/etc/nova and /var/log/nova as the controller sees them (sshd's mount namespace,
        a private one made by ``ip netns exec``)."""
        work = self.host_dir / "etc-work"
        work.mkdir(parents=True, exist_ok=True)
        enter = ["nsenter", "-t", str(sshd_pid), "-m", "--"]
        overlay = f"lowerdir=/etc,upperdir={self.etc_upper},workdir={work}"
        netns.run([*enter, "mount", "-t", "overlay", "overlay", "-o", overlay, "/etc"])
        netns.run([*enter, "mount", "--bind", str(self.var_log), "/var/log"])

    def _write_inventory(self, files: netns.SshFiles) -> None:
        controller_vars = {
            "ip": CONTROLLER_IP,
            "nova_conf": NOVA_CONF,
            "nova_api_log": NOVA_API_LOG,
            "netns": CONTROLLER_NS,
        }
        hosts = {
            CONTROLLER: {
                "address": CONTROLLER_IP,
                "port": 22,
                "roles": [CONTROLLER],
                "vars": controller_vars,
            }
        }
        self._write_inventory_doc(files, hosts)

    # ------------------------------------------------------------ inspecting

    def _mounted(self, sshd_pid: int) -> set[str]:
        try:
            lines = Path(f"/proc/{sshd_pid}/mountinfo").read_text().splitlines()
        except OSError:
            return set()
        return {ln.split()[4] for ln in lines if len(ln.split()) > 4}

    def _problems(self, state: LabState) -> list[str]:
        problems: list[str] = []
        if CONTROLLER_NS not in netns.namespaces(NS_PREFIX):
            problems.append(f"namespace {CONTROLLER_NS} missing")
        if MGMT_BRIDGE not in netns.links(prefix=ROOT_PREFIX):
            problems.append(f"management bridge {MGMT_BRIDGE} missing")
        pid = netns.sshd_pid(self.run_dir, CONTROLLER)
        if pid is None:
            problems.append("sshd not running on the controller")
        elif not {"/etc", "/var/log"} <= self._mounted(pid):
            problems.append("the controller's /etc overlay or /var/log mount is missing")
        if self.db.pid() is None:
            problems.append("mariadbd not running")
        return problems + self._inventory_problems()

    def _describe(self, state: LabState) -> list[str]:
        extra = state.extra
        kind = "healthy" if state.healthy else "faulty"
        lines = [
            f"{kind}, built in {extra.get('up_seconds', '?')} s (seeding "
            f"{extra.get('seed_rows', 0):,} rows took {extra.get('seed_seconds', '?')} s, "
            f"of which nova's schema {extra.get('schema_seconds', '?')} s)",
            f"sshd: {CONTROLLER} {CONTROLLER_IP}:22 pid "
            f"{netns.sshd_pid(self.run_dir, CONTROLLER) or 'dead'}",
            f"mariadbd: 127.0.0.1:3306 in {CONTROLLER_NS}, pid {self.db.pid() or 'dead'}, "
            f"datadir {self.db.datadir}",
        ]
        if self.db.pid() is not None:
            lines += self._row_counts()
        return lines + self._inventory_lines()

    def _row_counts(self) -> list[str]:
        try:
            with self.db.root_connection(DB_NAME, connect_timeout=3) as conn, conn.cursor() as cur:
                cur.execute(
                    "SELECT table_name, table_rows FROM information_schema.tables "
                    "WHERE table_schema = %s ORDER BY table_name",
                    (DB_NAME,),
                )
                rows = cur.fetchall()
        except Exception as exc:  # status must not fail on a half-built lab
            return [f"nova database: not readable ({type(exc).__name__})"]
        return [f"nova.{name}: about {int(n or 0):,} rows" for name, n in rows]
