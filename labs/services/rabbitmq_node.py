"""A real RabbitMQ node (Debian's rabbitmq-server) inside a lab host's namespace.

It runs as the ``rabbitmq`` user with its Mnesia dir, logs, pid file, Erlang cookie
and HOME under a directory of the lab's run dir. ``/etc/netns/NS/rabbitmq/
rabbitmq-env.conf`` (which ``ip netns exec NS`` binds over /etc/rabbitmq) points it
there, so the server and ``rabbitmqctl`` in the host's ssh sessions (Debian's
wrapper runs it as the rabbitmq user) agree on node name and cookie, exactly as on
a production host. Measured here: about 5-6 s from exec to ``rabbitmqctl wait``
returning; ``rabbitmqctl`` calls take about 0.4 s.

Messages are published with ``rabbitmqctl eval`` and the broker's own
``rabbit_basic:publish`` (Debian ships no rabbitmqadmin, and no AMQP client is
needed): see ``publish``.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.errors import CloudtalesError
from labs.core import netns

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
USER = "rabbitmq"
START_TIMEOUT = 60.0
TOOLS = {"rabbitmq-server": "rabbitmq-server", "setpriv": "util-linux", "setsid": "util-linux"}


def installed() -> bool:
    return netns.tool_path("rabbitmq-server") is not None and Path(SERVER).exists()


@dataclass(frozen=True)
class RabbitNode:
    netns: str
    home: Path  # everything the node writes lives here
    etc_netns: Path = Path("/etc/netns")

    @property
    def pid_file(self) -> Path:
        return self.home / "rabbit.pid"

    @property
    def startup_log(self) -> Path:
        return self.home / "startup.log"

    def env_conf(self) -> str:
        return (
            "# written by a cloudtales lab: this namespace's RabbitMQ keeps its state here\n"
            "NODENAME=rabbit@localhost\n"
            f"MNESIA_BASE={self.home / 'mnesia'}\n"
            f"LOG_BASE={self.home / 'log'}\n"
            f"PID_FILE={self.pid_file}\n"
            f"HOME={self.home / 'home'}\n"
            "export HOME\n"
        )

    def start(self) -> float:
        """Write the env file and exec the server detached; returns the start instant
        (``time.monotonic``) for ``wait``. The env file must exist before the host's
        sshd starts, so that its sessions see it."""
        user = pwd.getpwnam(USER)
        for p in reversed(self.home.parents):  # the rabbitmq user must traverse them
            if p.is_dir() and not p.stat().st_mode & 0o001:
                p.chmod(p.stat().st_mode | 0o011)
        for sub in ("mnesia", "log", "home"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        for p in (self.home, *self.home.iterdir()):
            os.chown(p, user.pw_uid, user.pw_gid)
        env_dir = self.etc_netns / self.netns / "rabbitmq"
        env_dir.mkdir(parents=True, exist_ok=True)
        (env_dir / "rabbitmq-env.conf").write_text(self.env_conf())
        started = time.monotonic()
        argv = netns.in_ns(
            self.netns,
            ["setsid", "-f", "setpriv", "--reuid", USER, "--regid", USER, "--init-groups", SERVER],
        )
        with self.startup_log.open("wb") as out:
            proc = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=10
            )
        if proc.returncode != 0:
            raise CloudtalesError(f"rabbitmq-server did not start (exit {proc.returncode})")
        return started

    def rabbitmqctl(self, *args: str, timeout: float = 30.0) -> str:
        return netns.run(netns.in_ns(self.netns, ["rabbitmqctl", *args]), timeout=timeout).stdout

    def wait(self, started: float, timeout: float = START_TIMEOUT) -> float:
        """Block until the node runs (``rabbitmqctl wait PIDFILE``); seconds since start."""
        try:
            self.rabbitmqctl(
                "wait", "--timeout", str(int(timeout)), str(self.pid_file), timeout=timeout + 10
            )
        except CloudtalesError as exc:
            log = self.startup_log
            said = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
            raise CloudtalesError(
                f"RabbitMQ did not start within {timeout:g} s ({exc}); "
                f"{'; '.join(said) or 'no startup log'}"
            ) from None
        return time.monotonic() - started

    def publish(
        self,
        queues: Sequence[str],
        bodies: Mapping[str, str],
        counts: Mapping[str, tuple[str, int]],
    ) -> None:
        """Declare ``queues`` (non-durable, as nova declares them by default) and publish
        ``counts[queue] = (body name, n)`` copies of ``bodies[name]`` to each through the
        default exchange. The bodies go through files the broker reads itself."""
        user = pwd.getpwnam(USER)
        files: dict[str, Path] = {}
        for name, text in bodies.items():
            f = self.home / f"body-{name}.json"
            f.write_text(text)
            os.chown(f, user.pw_uid, user.pw_gid)
            files[name] = f
        declared = ", ".join(f'<<"{q}">>' for q in queues)
        reads = " ".join(
            f'{{ok, B_{name}}} = file:read_file("{path}"),' for name, path in files.items()
        )
        pubs = " ++ ".join(f'P(<<"{q}">>, B_{name}, {n})' for q, (name, n) in counts.items())
        expr = (
            'V = <<"/">>, X = {resource, V, exchange, <<"">>}, '
            "[rabbit_amqqueue:declare({resource, V, queue, N}, false, false, [], none, "
            f'<<"cloudtales-lab">>) || N <- [{declared}]], {reads} '
            "P = fun(Q, B, K) -> [rabbit_basic:publish(X, Q, "
            '[{content_type, <<"application/json">>}], B) || _ <- lists:seq(1, K)] end, '
            f"lists:usort([ok | {pubs or '[]'}])."
        )
        said = self.rabbitmqctl("eval", expr).strip()
        if said != "[ok]":
            raise CloudtalesError(f"publishing to RabbitMQ in {self.netns} failed: {said[:200]}")

    def pids(self) -> list[int]:
        """The node's beam.smp in the namespace (empty when it is not running)."""
        return [
            p
            for p in netns.namespace_pids(self.netns)
            if any(part.endswith("beam.smp") for part in netns.cmdline(p)[:1])
        ]
