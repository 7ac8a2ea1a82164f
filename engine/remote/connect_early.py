"""The connection budget, and TCP connections opened before the SSH library is loaded.

Standard library only, so a fan-out can start connecting before ``asyncssh`` (about
0.2 s of imports on one core) is imported.

Budget
    Each SSH connection holds one file descriptor, so at most ``connection_budget()``
    (``RLIMIT_NOFILE`` less ``FD_RESERVE``) stay open at once, and at most
    ``MAX_CONNECTING`` handshakes run at once (``engine.remote.ssh``).

Early connections
    ``open_early`` starts a non-blocking TCP connect to each of the first hosts a
    fan-out will reach, and returns at once. While this process goes on importing, each
    host's sshd accepts and prepares the session (fork, re-exec, privilege separation:
    about 20 ms of the host's CPU per connection, measured on OpenSSH 9.2), and on a real
    network the TCP handshake's round trip passes too. ``SshRunner`` then runs the SSH
    handshake over the socket it is handed (``EarlySockets.take``); a socket that failed
    or is not connected in time is closed and the host is connected the usual way, so
    every error reads as before.

    Only hosts that connect straight to an IP address are opened early: no ssh config
    in play (its ``HostName``, ``Port``, ``ProxyJump`` or ``ProxyCommand`` could send the
    connection elsewhere), and no name to resolve (a resolver could block).
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import ipaddress
import resource
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.remote.inventory import Host, Inventory

FD_RESERVE = 64  # file descriptors kept for everything but SSH connections
# SSH handshakes in flight at once. Without a cap, 960 simultaneous handshakes on a
# 2-core client (1,000 hosts, RLIMIT_NOFILE 1024) left two dozen past connect_timeout
# (10 s) while they queued for CPU; capped, the whole fan-out took as long (16 to 21 s,
# a busy machine) and every host answered.
MAX_CONNECTING = 64
DEFAULT_SSH_CONFIG = Path("~/.ssh/config")


def connection_budget(reserve: int = FD_RESERVE) -> int:
    """How many SSH connections fit in this process's ``RLIMIT_NOFILE`` (one fd each)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 65536
    return max(1, soft - reserve)


def early_address(host: Host, inventory: Inventory) -> tuple[str, int] | None:
    """(IP address, port) when ``host`` is connected to directly, else None."""
    if host.transport != "ssh":
        return None
    if inventory.ssh.config or DEFAULT_SSH_CONFIG.expanduser().is_file():
        return None
    try:
        ip = ipaddress.ip_address(host.address)
    except ValueError:
        return None
    return str(ip), host.port


class EarlySockets:
    """Sockets whose TCP connect was started early, by (IP address, port)."""

    def __init__(self) -> None:
        self._socks: dict[tuple[str, int], list[socket.socket]] = {}

    def __len__(self) -> int:
        return sum(len(s) for s in self._socks.values())

    def add(self, where: tuple[str, int], sock: socket.socket) -> None:
        self._socks.setdefault(where, []).append(sock)

    def take(self, where: tuple[str, int]) -> socket.socket | None:
        """The early socket for ``where`` (the caller owns it now), or None."""
        socks = self._socks.get(where)
        if not socks:
            return None
        sock = socks.pop(0)
        if not socks:
            del self._socks[where]
        return sock

    def close(self) -> None:
        """Close every socket nobody took."""
        for socks in self._socks.values():
            for sock in socks:
                sock.close()
        self._socks.clear()


def open_early(inventory: Inventory, hosts: Iterable[Host], limit: int) -> EarlySockets:
    """Start a TCP connect to the first ``limit`` eligible ``hosts``; never blocks or raises."""
    wheres = (early_address(host, inventory) for host in hosts)
    return _open((w for w in wheres if w is not None), limit)


def open_early_from_file(
    path: str | Path, limit: int, patterns: Sequence[str] | None = None
) -> EarlySockets:
    """``open_early`` before the inventory is even validated (pydantic loads meanwhile).

    Only a cloudtales YAML inventory is read here, for its hosts' ``address`` (given
    explicitly), ``port``, ``transport`` and ``roles`` (``patterns``: the ``--limit``
    globs over names and roles).
    Anything else (an Ansible inventory, an ``ssh.config``, a file that does not parse)
    opens nothing, and the validated inventory decides as usual. A host this reading gets
    wrong only costs a socket nobody takes.
    """
    try:
        wheres = _peek(Path(path).expanduser(), patterns)
    except Exception:  # the inventory loader reports what is wrong with the file
        return EarlySockets()
    return _open(wheres, limit)


def _peek(path: Path, patterns: Sequence[str] | None) -> list[tuple[str, int]]:
    if path.suffix not in (".yaml", ".yml") or DEFAULT_SSH_CONFIG.expanduser().is_file():
        return []
    import yaml

    data = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if not isinstance(data, dict) or "ansible" in data:
        return []
    hosts, ssh = data.get("hosts"), data.get("ssh") or {}
    if not isinstance(hosts, dict) or not isinstance(ssh, dict) or ssh.get("config"):
        return []
    found: list[tuple[str, int]] = []
    for name, h in hosts.items():
        if not isinstance(h, dict) or h.get("transport", "ssh") != "ssh" or "address" not in h:
            continue  # an address left to its default: rare, and the usual path covers it
        roles = h.get("roles") or []
        names = [str(name), *(str(r) for r in roles if isinstance(roles, list))]
        if patterns and not any(fnmatch.fnmatchcase(x, p) for p in patterns for x in names):
            continue
        port = h.get("port", 22)
        try:
            ip = ipaddress.ip_address(str(h.get("address", "127.0.0.1")))
        except ValueError:
            continue
        if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536:
            found.append((str(ip), port))
    return found


def _open(wheres: Iterable[tuple[str, int]], limit: int) -> EarlySockets:
    early = EarlySockets()
    for where in wheres:
        if len(early) >= limit:
            break
        family = socket.AF_INET6 if ":" in where[0] else socket.AF_INET
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError:  # out of descriptors, say: the usual path will say so per host
            break
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex(where)
        if code not in (0, errno.EINPROGRESS):
            sock.close()  # refused at once: the usual connect reports it
            continue
        early.add(where, sock)
    return early


def connected_now(sock: socket.socket) -> bool | None:
    """True once connected, False if the connect failed, None while still in progress."""
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        return False
    try:
        sock.getpeername()
    except OSError as exc:
        if exc.errno == errno.ENOTCONN:
            return None
        return False
    return True


def close_quietly(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
