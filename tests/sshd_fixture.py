"""A real OpenSSH sshd on 127.0.0.1 for transport tests (see LAB-NOTES "OpenSSH 9.2 sshd").

``sshd`` (function scope) starts ``/usr/sbin/sshd -D`` on a free port with a scratch
host key, one authorized client key and its own known_hosts file, and yields an
``Inventory`` with one host (``target``) that reaches it. ``sshd_server`` yields the
``SshdServer`` behind it, for tests that need its files or pid. Teardown stops the
listener and any per-connection sshd children it forked.

The config sets ``SetEnv SHLVL=1`` so root's ``.bashrc`` is skipped (it costs about
0.1 s per command on this machine kind), ``UsePAM no`` and ``StrictModes no``.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
import pytest

from engine.remote.inventory import Host, Inventory, SshSettings

SSHD = "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_key(key: asyncssh.SSHKey, path: Path) -> None:
    key.write_private_key(str(path))
    path.chmod(0o600)


@dataclass
class SshdServer:
    """One scratch sshd. ``start()`` returns once it accepts TCP connections."""

    dir: Path
    port: int = 0
    username: str = field(default_factory=getpass.getuser)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def host_key(self) -> Path:
        return self.dir / "host_ed25519"

    @property
    def client_key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def log(self) -> Path:
        return self.dir / "sshd.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def known_hosts_line(self, key: asyncssh.SSHKey | None = None) -> str:
        """The known_hosts entry for this server (or for ``key`` at its address)."""
        pub = (key or asyncssh.read_private_key(str(self.host_key))).export_public_key()
        return f"[127.0.0.1]:{self.port} {pub.decode().strip()}\n"

    def _prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        _write_key(asyncssh.generate_private_key("ssh-ed25519"), self.host_key)
        client = asyncssh.generate_private_key("ssh-ed25519")
        _write_key(client, self.client_key)
        (self.dir / "authorized_keys").write_bytes(client.export_public_key())

    def _write_config(self) -> Path:
        d = self.dir
        cfg = d / "sshd_config"
        cfg.write_text(
            f"Port {self.port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {self.host_key}\n"
            f"PidFile {d / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "StrictModes no\n"
            "SetEnv SHLVL=1\n"
            "LogLevel VERBOSE\n"
        )
        return cfg

    def start(self, attempts: int = 5) -> None:
        if not self.host_key.exists():
            self._prepare()
        for _ in range(attempts):
            self.port = _free_port()
            cfg = self._write_config()
            subprocess.run([SSHD, "-t", "-f", str(cfg)], check=True, capture_output=True)
            self.proc = subprocess.Popen(
                [SSHD, "-D", "-f", str(cfg), "-E", str(self.log)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_listening():
                self.known_hosts.write_text(self.known_hosts_line())
                return
            self.stop()
        raise RuntimeError(f"sshd did not start; see {self.log}")

    def _wait_listening(self, limit: float = 5.0) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False  # e.g. the port was taken in the meantime
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.005)
        return False

    def session_pids(self) -> list[int]:
        """Per-connection sshd processes forked by the listener (one per open connection)."""
        out = subprocess.run(
            ["pgrep", "-P", str(self.pid)], capture_output=True, text=True, check=False
        ).stdout
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            for pid in self.session_pids():
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def inventory(self, **ssh: object) -> Inventory:
        """An inventory whose host ``target`` reaches this sshd (``ssh`` overrides settings)."""
        settings = SshSettings.model_validate(
            {
                "known_hosts": str(self.known_hosts),
                "client_keys": [str(self.client_key)],
                "config": None,
                "username": self.username,
                "connect_timeout": 5.0,
                **ssh,
            }
        )
        return Inventory(
            name="sshd-fixture",
            ssh=settings,
            hosts={"target": Host(address="127.0.0.1", port=self.port, roles=["test"])},
        )


@pytest.fixture
def sshd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdServer]:
    if not Path(SSHD).exists() or shutil.which("pgrep") is None:
        pytest.fail("sshd or pgrep not found: apt install openssh-server procps (.ci/setup does)")
    server = SshdServer(tmp_path_factory.mktemp("sshd"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sshd(sshd_server: SshdServer) -> Inventory:
    """An ``Inventory`` with host ``target`` on a fresh real sshd (stopped at teardown)."""
    return sshd_server.inventory()
