"""A real MariaDB server (Debian's ``mariadbd``) on a scratch datadir, inside a namespace.

``mariadb-install-db`` creates the system tables (about 1 s), then ``mariadbd`` runs
with ``--no-defaults`` (nothing from /etc/mysql), listening on an address of the
lab host's namespace and on a unix socket under the lab's run dir, which the lab
uses from the root namespace to create users and load data. Measured recipe in
LAB-NOTES.md.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql

from engine.errors import CloudtalesError
from labs.core import netns

TOOLS = {"mariadbd": "mariadb-server", "mariadb-install-db": "mariadb-server"}
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class MariaDbServer:
    base: Path  # datadir, socket, pid file and logs live here
    netns: str
    address: str = "127.0.0.1"
    port: int = 3306
    buffer_pool: str = "256M"

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def socket(self) -> Path:
        return self.base / "mysqld.sock"

    @property
    def pid_file(self) -> Path:
        return self.base / "mysqld.pid"

    @property
    def error_log(self) -> Path:
        return self.base / "error.log"

    def install(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        netns.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            timeout=120,
        )

    def argv(self) -> list[str]:
        mariadbd = netns.tool_path("mariadbd") or "/usr/sbin/mariadbd"
        return netns.in_ns(
            self.netns,
            [
                mariadbd,
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--socket={self.socket}",
                f"--port={self.port}",
                f"--bind-address={self.address}",
                f"--pid-file={self.pid_file}",
                f"--log-error={self.error_log}",
                "--user=root",
                "--skip-log-bin",
                "--skip-name-resolve",
                f"--innodb-buffer-pool-size={self.buffer_pool}",
                "--innodb-flush-log-at-trx-commit=2",
                "--innodb-doublewrite=0",
            ],
        )

    def start(self, timeout: float = START_TIMEOUT) -> int:
        """Start the server and wait until it accepts a connection; returns its pid."""
        self.pid_file.unlink(missing_ok=True)
        proc = subprocess.Popen(
            self.argv(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise CloudtalesError(f"mariadbd exited ({proc.returncode}): {self.last_error()}")
            try:
                self.root_connection(connect_timeout=1).close()
                return proc.pid
            except pymysql.MySQLError:
                pass
            if time.monotonic() > deadline:
                raise CloudtalesError(
                    f"mariadbd did not answer in {timeout:g}s: {self.last_error()}"
                )
            time.sleep(0.05)

    def last_error(self) -> str:
        try:
            lines = self.error_log.read_text(errors="replace").splitlines()
        except OSError:
            return "no error log"
        errors = [ln for ln in lines if "[ERROR]" in ln] or lines
        return errors[-1].strip() if errors else "empty error log"

    def root_connection(
        self, database: str | None = None, connect_timeout: float = 10
    ) -> pymysql.connections.Connection[Any]:
        return pymysql.connect(
            unix_socket=str(self.socket),
            user="root",
            database=database,
            connect_timeout=connect_timeout,
            autocommit=True,
        )

    def pid(self) -> int | None:
        """The server's pid if it is alive (checked against its command line)."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        if not netns.pid_alive(pid) or f"--datadir={self.datadir}" not in netns.cmdline(pid):
            return None
        return pid

    def stop(self) -> list[int]:
        pid = self.pid()
        return netns.stop_pids([pid], timeout=10.0) if pid else []
