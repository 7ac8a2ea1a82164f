"""``SshRunner``: the runner protocol over asyncssh, one connection per host.

Connections
    One SSH connection per host, opened lazily under a per-host ``asyncio.Lock`` and
    reused by every call; each command is its own session channel on it. OpenSSH caps
    channels per connection (``MaxSessions``, default 10), so a per-host semaphore
    (``max_sessions``) queues the rest instead of failing. sshd frees a session slot a
    moment after the client sees the channel close, so a refused open ("open failed")
    is retried with backoff (about 3 s in all, within the call's deadline); that also
    covers servers configured below ``max_sessions``.
    A connection found closed (host rebooted, network cut) is replaced on next use.
    Each connection holds one file descriptor: at most ``max_connections`` stay open
    (default ``RLIMIT_NOFILE`` less 64, ``connection_budget``), so opening one more
    first closes the least recently used idle connection (no channel open on it). At
    most ``MAX_CONNECTING`` handshakes run at once, so a wide fan-out never queues a
    handshake for CPU past ``connect_timeout``.

    Authentication and trust: ``SshSettings.client_keys`` if given, else asyncssh's
    defaults (agent, then ``~/.ssh/id_*``); ``SshSettings.config`` or ``~/.ssh/config``
    through asyncssh's ``config=``; host keys are always verified, against
    ``SshSettings.known_hosts`` or the default ``~/.ssh/known_hosts`` (a missing file
    trusts nothing). An ssh config that would turn verification off
    (``UserKnownHostsFile none``) is refused with a TransportError rather than obeyed.
    A host's ``port`` is passed only when the inventory sets it, so ``Port`` in the ssh
    config still applies. Connection failures become ``TransportError(host, reason)``
    with one short reason; no asyncssh traceback leaks.

How cancelling kills the remote process (measured on OpenSSH 9.2)
    Every command is sent wrapped::

        exec timeout -k 5 <T+5> sh -c '<watchdog>' cloudtales '<command>'

    where the watchdog is::

        exec 3<&0 </dev/null
        { trap '' TERM; while read -r _; do :; done <&3; pkill -TERM -s 0 || kill -TERM 0; } \
            >/dev/null 2>&1 &
        w=$!; exec 3<&-; (eval "unset w; set --; $1"); s=$?
        trap '' TERM; kill -KILL $w; kill -TERM 0; exit $s

    The command runs in a subshell of the watchdog's shell (``eval``): a fork, not a
    second ``sh`` to start (each program started costs the host about 1 ms of CPU). Its
    own ``exit`` leaves only that subshell; the positional parameters and the
    watchdog's variable are cleared first, so it sees what ``sh -c`` would give it.

    sshd starts every session command in a new session (``setsid``), so the command
    and everything it spawns belong to a session that holds nothing else. The command
    runs with stdin from /dev/null; the channel's stdin is held only by the background
    watchdog (a ``read`` loop, a shell builtin: no process to start). Nothing ever
    writes to or closes that stdin while the command runs, so the loop ends only when
    sshd closes the pipe, which it does when the client closes the channel (cancel,
    early ``aclose()``/``break``, timeout), and when the connection goes away (client
    crash, network loss). ``pkill -TERM -s 0`` then terminates every process in the
    session, including ones that moved to their own process group (a nested
    ``timeout``, anything calling ``setpgid``); ``kill -TERM 0`` (the process group) is
    the fallback on a host without pkill. The watchdog ignores TERM, and so does the
    pkill it starts: otherwise the outer ``timeout``, which relays a TERM to its whole
    process group, could kill pkill before it reached every process.
    Closing the channel is the whole cancel path on the client: it is synchronous,
    needs no reply, and takes effect on the host within milliseconds (about 10 ms on
    loopback).

    A command that ends by itself stands the watchdog down (SIGKILL: it ignores TERM)
    and TERMs its own process group, which ends what the command left running in the
    background; its exit status is kept. That path starts no process: ``pkill`` reads
    every ``/proc/PID/stat`` on the host, so running it after every command cost host
    CPU in proportion to the host's process count (1,000 concurrent sessions on one
    sshd took 54 s with it, 23 s without; bench/bench_hosts.py). Left-overs that moved
    to their own process group are swept only on the cancel path.

    The outer ``timeout`` is the backstop: it ends the command ``T+5`` s after start
    even if the watchdog never fires (say the client froze with the connection up),
    and since it also receives the watchdog's TERM, ``-k 5`` sends SIGKILL 5 s later to
    anything in its group that ignored the TERM.

    Rejected alternatives:

    * ``send_signal``/``terminate`` (RFC 4254 "signal" request): OpenSSH 9.2 refuses it
      for root sessions ("session signalling requires privilege separation" in the sshd
      log) and ignores it for forced commands; root is the usual login here.
    * A PTY (hang-up on close): it merges stderr into stdout, so tcpdump's
      ``listening on ...`` could not be told apart, and the tty line discipline
      rewrites binary pcap data (``\\n`` -> ``\\r\\n``) unless every mode is set raw.
    * Relying on SIGPIPE: an idle ``tcpdump`` or a ``sleep`` never writes, so it
      would never notice the closed channel.

    Commands run under ``sh`` (POSIX shell semantics), not the login shell, which also
    avoids a second ``.bashrc`` start-up per command. The login shell only has to parse
    the one ``exec`` line, so any POSIX-like login shell works. Hosts need ``timeout``
    and ``cat`` (coreutils), and should have ``pkill`` (procps).

Deadlines
    ``timeout`` bounds the command, including waiting for a free channel; connecting is
    bounded by ``SshSettings.connect_timeout`` and reported as a TransportError. For
    streams it is a deadline on the whole stream, enforced on each read (never across a
    ``yield``); when it passes, the remote process is killed and ``CheckTimeoutError`` is
    raised from the iterator. Close streams early with ``contextlib.aclosing`` (or let the
    consuming task be cancelled): a bare ``break`` only kills the process once the
    abandoned generator is garbage-collected, which CPython does at once if nothing else
    refers to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import getpass
import math
import os
import shlex
import socket
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

from engine.errors import TransportError
from engine.remote._asyncssh_import import asyncssh
from engine.remote.connect_early import (
    MAX_CONNECTING,
    EarlySockets,
    close_quietly,
    connected_now,
    connection_budget,
    early_address,
)
from engine.remote.inventory import Host, Inventory
from engine.remote.runner import CommandResult, one_line, timeout_error, within

SshProcess = asyncssh.SSHClientProcess[Any]
_T = TypeVar("_T")

_WATCHDOG = (
    "exec 3<&0 </dev/null; "
    "{ trap '' TERM; while read -r _; do :; done <&3; pkill -TERM -s 0 || kill -TERM 0; } "
    ">/dev/null 2>&1 & "
    'w=$!; exec 3<&-; (eval "unset w; set --; $1"); s=$?; '
    "trap '' TERM; kill -KILL $w; kill -TERM 0; exit $s"
)
BACKSTOP_GRACE = 5  # seconds past the caller's deadline before `timeout` fires on the host
_CHUNK = 65536
_OPEN_RETRIES = 6  # channel opens refused by the server's MaxSessions, retried with backoff
# OpenSSH answers a session open beyond MaxSessions with "open failed", code 2
# (CONNECT_FAILED); other servers use 1 (ADMINISTRATIVELY_PROHIBITED).
_RETRY_OPEN_CODES = {asyncssh.OPEN_CONNECT_FAILED, asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED}
_REAP_LIMIT = 10.0  # how long a channel slot stays reserved for a channel that is closing
# asyncssh's default ciphers with AES-GCM first: asyncssh builds a ChaCha20 context per
# packet in Python, AES-GCM is one call (about 15% less client CPU over 50 hosts, and
# AES-NI on the host). Every default stays offered, so no server is refused.
CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)


def wrap_command(command: str, timeout: float) -> str:
    """The remote command line that runs ``command`` under the watchdog and backstop."""
    backstop = math.ceil(timeout) + BACKSTOP_GRACE
    return (
        f"exec timeout -k {BACKSTOP_GRACE} {backstop} sh -c {shlex.quote(_WATCHDOG)} "
        f"cloudtales {shlex.quote(command)}"
    )


def _line(command: str, timeout: float, watchdog: bool) -> str:
    if watchdog:
        return wrap_command(command, timeout)
    return f"exec sh -c {shlex.quote(command)}"  # POSIX sh whatever the login shell


def host_label(host: Host) -> str:
    return host.name or host.address


def _exit_status(proc: SshProcess) -> int:
    code = proc.returncode
    if code is None:
        return -1
    return 128 - code if code < 0 else code  # killed by a signal: shell convention 128+N


class SshRunner:
    """Runs commands on inventory hosts over SSH (see the module docstring)."""

    def __init__(
        self,
        inventory: Inventory,
        *,
        max_sessions: int = 10,
        max_connections: int | None = None,
        early: EarlySockets | None = None,
    ) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self._inventory = inventory
        self._max_sessions = max_sessions
        self.max_connections = max_connections or connection_budget()
        self._conns: dict[str, asyncssh.SSHClientConnection] = {}  # least recently used first
        self._connecting = 0
        self._handshakes = asyncio.Semaphore(MAX_CONNECTING)
        self._idle = asyncio.Event()  # set when a connection may have become idle
        self._pinned: set[str] = set()  # handed out by connection(): never closed as idle
        self._locks: dict[str, asyncio.Lock] = {}
        self._slots: dict[str, _Slots] = {}
        self._reapers: set[asyncio.Task[None]] = set()
        self._early = early  # TCP connects started before asyncssh was imported
        self._loaded: dict[object, Any] = {}  # key files and known_hosts, read once

    @property
    def connections(self) -> dict[str, asyncssh.SSHClientConnection]:
        """Open connections by host key (a copy; for diagnostics and tests)."""
        return {k: c for k, c in self._conns.items() if not c.is_closed()}

    async def connection(self, host: Host) -> asyncssh.SSHClientConnection:
        """The host's shared connection (opened if needed), e.g. for a port forward."""
        conn = await self._connection(host)
        self._pinned.add(self._key(host))
        return conn

    # -- the protocol ------------------------------------------------------------------

    async def run(self, host: Host, command: str, timeout: float = 30.0) -> CommandResult:
        return await self._run(host, command, timeout, watchdog=True)

    async def run_short(self, host: Host, command: str, timeout: float = 30.0) -> CommandResult:
        """``run`` for a command that ends by itself within moments and leaves nothing
        running (the hosts probe: shell builtins, ``id``, ``sudo -n true``).

        It runs as ``exec sh -c COMMAND``, without the watchdog and the backstop, which
        cost the host about 1.5 ms of CPU per command (a ``timeout`` and three forks;
        measured on OpenSSH 9.2); a fan-out over a thousand hosts spends that a thousand
        times. The deadline still holds here; on cancel or timeout the channel closes and
        the command finishes on its own.
        """
        return await self._run(host, command, timeout, watchdog=False)

    async def _run(
        self, host: Host, command: str, timeout: float, *, watchdog: bool
    ) -> CommandResult:
        started = time.monotonic()
        conn = await self._connection(host)
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            with self._translate(host):
                async with self._session(
                    host, conn, command, timeout, deadline, "utf-8", watchdog=watchdog
                ) as s:
                    async with asyncio.timeout_at(deadline):
                        completed = await s.proc.wait()
                    s.closed = True
        except TimeoutError:
            raise timeout_error(host_label(host), command, timeout) from None
        if s.proc.returncode is None:  # the channel closed without an exit status or signal
            self._forget_if_closed(host)
            raise TransportError(
                host_label(host), "connection lost: the command ended without an exit status",
                command,
            )  # fmt: skip
        stdout = completed.stdout
        stderr = completed.stderr
        return CommandResult(
            host=host.name,
            command=command,
            exit_status=_exit_status(s.proc),
            stdout=stdout if isinstance(stdout, str) else "",
            stderr=stderr if isinstance(stderr, str) else "",
            duration=time.monotonic() - started,
        )

    async def stream_lines(
        self, host: Host, command: str, timeout: float = 60.0
    ) -> AsyncGenerator[str, None]:
        conn = await self._connection(host)
        deadline = asyncio.get_running_loop().time() + timeout
        with self._translate(host):
            async with self._session(host, conn, command, timeout, deadline, "utf-8") as s:
                drain = asyncio.create_task(_pump_stderr(s.proc.stderr, None))
                try:
                    while True:
                        line = await within(
                            deadline, s.proc.stdout.readline(), host_label(host), command, timeout
                        )
                        if not line:
                            break
                        yield str(line).rstrip("\r\n")
                    await within(deadline, s.finish(drain), host_label(host), command, timeout)
                finally:
                    drain.cancel()

    async def stream_bytes(
        self,
        host: Host,
        command: str,
        timeout: float = 60.0,
        on_stderr: Callable[[str], None] | None = None,
    ) -> AsyncGenerator[bytes, None]:
        conn = await self._connection(host)
        deadline = asyncio.get_running_loop().time() + timeout
        with self._translate(host):
            async with self._session(host, conn, command, timeout, deadline, None) as s:
                pump = asyncio.create_task(_pump_stderr(s.proc.stderr, on_stderr))
                try:
                    while True:
                        chunk = await within(
                            deadline, s.proc.stdout.read(_CHUNK), host_label(host), command, timeout
                        )
                        if pump.done() and not pump.cancelled() and pump.exception():
                            pump.result()  # on_stderr raised: surface it now
                        if not chunk:
                            break
                        yield bytes(chunk)
                    await within(deadline, s.finish(pump), host_label(host), command, timeout)
                finally:
                    pump.cancel()

    async def close(self) -> None:
        conns = list(self._conns.values())
        self._conns.clear()
        for conn in conns:
            conn.close()
        for conn in conns:
            with contextlib.suppress(Exception):
                await conn.wait_closed()
        if self._reapers:
            await asyncio.gather(*self._reapers, return_exceptions=True)
        if self._early is not None:
            self._early.close()

    # -- connections -------------------------------------------------------------------

    @staticmethod
    def _key(host: Host) -> str:
        return f"{host.name}|{host.username or ''}@{host.address}:{host.port}"

    async def _connection(self, host: Host) -> asyncssh.SSHClientConnection:
        key = self._key(host)
        conn = self._conns.get(key)
        if conn is not None and not conn.is_closed():
            self._conns[key] = self._conns.pop(key)  # most recently used last
            return conn
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            conn = self._conns.pop(key, None)
            if conn is not None and not conn.is_closed():
                self._conns[key] = conn
                return conn
            async with self._handshakes:
                await self._wait_for_room()
                self._connecting += 1
                try:
                    conn = await self._connect(host)
                finally:
                    self._connecting -= 1
                    self._idle.set()  # a failed connect frees its place
            self._conns[key] = conn
            return conn

    async def _wait_for_room(self) -> None:
        """Stay in the fd budget: close idle connections, else wait for one to go idle.

        A fan-out over more hosts than ``max_connections`` (``RLIMIT_NOFILE`` less a
        reserve) keeps working: a host's connection is idle once none of its sessions
        holds a channel slot, and is opened again if that host is used again. The wait
        is bounded by ``connect_timeout``; after that the connection is opened anyway
        (a caller holding every connection busy while it waits would otherwise wait
        forever), and a descriptor shortage then fails that host with one line.
        """
        deadline = asyncio.get_running_loop().time() + self._inventory.ssh.connect_timeout
        while not self._make_room():
            self._idle.clear()
            try:
                async with asyncio.timeout_at(deadline):
                    await self._idle.wait()
            except TimeoutError:
                return

    def _make_room(self) -> bool:
        """Close idle connections, least recently used first; whether one more fits."""
        excess = len(self._conns) + self._connecting + 1 - self.max_connections
        if excess <= 0:
            return True
        for key, conn in list(self._conns.items()):
            if excess <= 0:
                break
            slots = self._slots.get(key)
            if key in self._pinned or (slots is not None and slots.in_use):
                continue
            del self._conns[key]
            conn.close()
            excess -= 1
        return excess <= 0

    def _connect_kwargs(self, host: Host) -> dict[str, Any]:
        s = self._inventory.ssh
        kwargs: dict[str, Any] = {"connect_timeout": s.connect_timeout}
        if "port" in host.model_fields_set:
            kwargs["port"] = host.port
        username = host.username or s.username
        if username:
            kwargs["username"] = username
        if s.known_hosts:
            kwargs["known_hosts"] = str(Path(s.known_hosts).expanduser())
        keys = host.client_keys or s.client_keys  # a host's own key (ansible_ssh_private_key_file)
        if keys:
            kwargs["client_keys"] = [str(Path(k).expanduser()) for k in keys]
        config = Path(s.config or "~/.ssh/config").expanduser()
        if s.config or config.is_file():
            kwargs["config"] = [str(config)]
        else:
            kwargs["config"] = None  # no config file: don't let asyncssh look again
        return kwargs

    async def _connect(self, host: Host) -> asyncssh.SSHClientConnection:
        kwargs = self._connect_kwargs(host)
        if kwargs["config"] is None:
            return await self._connect_direct(host, kwargs)
        label = host_label(host)
        try:
            options = await asyncssh.SSHClientConnectionOptions.construct(
                host=host.address, **kwargs
            )
        except Exception as exc:  # bad key file, unreadable or malformed ssh config
            raise TransportError(label, _setup_reason(exc)) from None
        if options.known_hosts is None:
            raise TransportError(
                label,
                "ssh config disables host key checking (UserKnownHostsFile none); "
                "set ssh.known_hosts in the inventory",
            )
        where = f"{options.host}:{options.port}"
        if not options.config.get("Ciphers"):  # the ssh config's choice stands
            kwargs["encryption_algs"] = CIPHERS
        try:
            return await asyncssh.connect(host.address, options=options, **kwargs)
        except Exception as exc:
            reason = _connect_reason(
                exc,
                host=options.host,
                where=where,
                known=kwargs.get("known_hosts") or "~/.ssh/known_hosts",
                username=options.username,
                timeout=kwargs["connect_timeout"],
            )
        raise TransportError(label, reason)

    async def _connect_direct(
        self, host: Host, kwargs: dict[str, Any]
    ) -> asyncssh.SSHClientConnection:
        """No ssh config: one options build (asyncssh's own), keys and known_hosts read once.

        Nothing can send the connection elsewhere, so the host's early socket (if
        ``open_early`` started one) carries it.
        """
        where = f"{host.address}:{kwargs.get('port', 22)}"
        known = kwargs.get("known_hosts") or "~/.ssh/known_hosts"
        if "known_hosts" in kwargs:
            kwargs["known_hosts"] = self._read_once(
                (kwargs["known_hosts"],), asyncssh.read_known_hosts
            )
        if "client_keys" in kwargs:
            kwargs["client_keys"] = self._read_once(
                tuple(kwargs["client_keys"]), asyncssh.load_keypairs, several=True
            )
        kwargs["encryption_algs"] = CIPHERS
        username = kwargs.get("username") or _local_user()
        sock: socket.socket | None = None
        try:
            sock = await self._early_socket(host, kwargs["connect_timeout"])
            if sock is not None:
                return await asyncssh.connect(host.address, sock=sock, **kwargs)
            return await asyncssh.connect(host.address, **kwargs)
        except Exception as exc:
            if sock is not None:
                close_quietly(sock)
            reason = _connect_reason(
                exc,
                host=host.address,
                where=where,
                known=known,
                username=username,
                timeout=kwargs["connect_timeout"],
            )
        raise TransportError(host_label(host), reason)

    def _read_once(self, paths: tuple[str, ...], read: Any, several: bool = False) -> Any:
        """``read`` the files once per runner (again if one changes); on trouble, the paths.

        A file that cannot be read or parsed is handed to asyncssh as a path, so the
        host fails with the same one-line reason as before.
        """
        try:
            stamp = tuple((p, *_stamp(p)) for p in paths)
        except OSError:
            return list(paths) if several else paths[0]
        if stamp not in self._loaded:
            try:
                self._loaded[stamp] = read(list(paths) if several else paths[0])
            except Exception:
                self._loaded[stamp] = None
        found = self._loaded[stamp]
        if found is None:
            return list(paths) if several else paths[0]
        return found

    async def _early_socket(self, host: Host, limit: float) -> socket.socket | None:
        """The host's early TCP connection once connected; None if there is none or it failed.

        Bounded by the connect timeout, and then reported as a timed-out connection.
        """
        where = early_address(host, self._inventory) if self._early else None
        sock = self._early.take(where) if self._early and where else None
        if sock is None:
            return None
        state = connected_now(sock)
        if state is None:
            loop = asyncio.get_running_loop()
            ready: asyncio.Future[None] = loop.create_future()

            def writable() -> None:
                if not ready.done():
                    ready.set_result(None)

            loop.add_writer(sock.fileno(), writable)
            try:
                async with asyncio.timeout(limit):
                    await ready
            except BaseException:
                close_quietly(sock)
                raise
            finally:
                loop.remove_writer(sock.fileno())
            state = connected_now(sock)
        if not state:
            close_quietly(sock)  # the usual connect reports why
            return None
        return sock

    @contextlib.contextmanager
    def _translate(self, host: Host) -> Iterator[None]:
        """Turn channel and connection failures during a command into TransportError."""
        try:
            yield
        except asyncssh.ChannelOpenError as exc:
            raise TransportError(host_label(host), f"cannot start command: {exc.reason}") from None
        except asyncssh.Error as exc:
            self._forget_if_closed(host)
            raise TransportError(host_label(host), f"connection lost: {exc.reason}") from None
        except (BrokenPipeError, ConnectionError) as exc:
            self._forget_if_closed(host)
            raise TransportError(host_label(host), f"connection lost: {exc}") from None

    def _forget_if_closed(self, host: Host) -> None:
        key = self._key(host)
        conn = self._conns.get(key)
        if conn is not None and conn.is_closed():
            del self._conns[key]

    # -- sessions ----------------------------------------------------------------------

    def _slots_for(self, host: Host) -> asyncio.Semaphore:
        key = self._key(host)
        slots = self._slots.get(key)
        if slots is None:
            slots = self._slots[key] = _Slots(self._max_sessions, self._idle)
        return slots

    @contextlib.asynccontextmanager
    async def _session(
        self,
        host: Host,
        conn: asyncssh.SSHClientConnection,
        command: str,
        timeout: float,
        deadline: float,
        encoding: str | None,
        *,
        watchdog: bool = True,
    ) -> AsyncIterator[_Session]:
        slots = self._slots_for(host)
        try:
            async with asyncio.timeout_at(deadline):
                await slots.acquire()
        except TimeoutError:
            raise timeout_error(host_label(host), command, timeout) from None
        try:
            proc = await within(
                deadline,
                _open_process(conn, _line(command, timeout, watchdog), encoding),
                host_label(host),
                command,
                timeout,
            )
        except BaseException:
            slots.release()
            raise
        session = _Session(proc)
        try:
            yield session
        finally:
            # Closing the channel makes sshd close the command's stdin pipe, which the
            # remote watchdog turns into SIGTERM for every process of the session.
            proc.close()
            if session.closed:
                slots.release()
            else:
                self._reap_later(proc, slots)

    def _reap_later(self, proc: SshProcess, slots: asyncio.Semaphore) -> None:
        """Keep the channel slot until the server has really closed the channel."""

        async def reap() -> None:
            try:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(_REAP_LIMIT):
                        await proc.wait_closed()
            finally:
                slots.release()

        task = asyncio.get_running_loop().create_task(reap())
        self._reapers.add(task)
        task.add_done_callback(self._reapers.discard)


class _Slots(asyncio.Semaphore):
    """A host's channel slots; ``in_use`` counts the held ones (its connection is busy)."""

    def __init__(self, value: int, idle: asyncio.Event) -> None:
        super().__init__(value)
        self.in_use = 0
        self._idle = idle

    async def acquire(self) -> Literal[True]:
        await super().acquire()
        self.in_use += 1
        return True

    def release(self) -> None:
        self.in_use -= 1
        super().release()
        if not self.in_use:
            self._idle.set()


class _Session:
    def __init__(self, proc: SshProcess) -> None:
        self.proc = proc
        self.closed = False

    async def finish(self, stderr_task: asyncio.Task[None]) -> None:
        """After stdout EOF: deliver the remaining stderr and wait for the channel close."""
        await stderr_task
        await self.proc.wait_closed()
        self.closed = True
        if self.proc.exit_status is None and self.proc.exit_signal is None:
            # EOF without an exit status: the connection went away under the command
            raise asyncssh.ConnectionLost("the connection closed before the command exited")


async def _open_process(
    conn: asyncssh.SSHClientConnection, command: str, encoding: str | None
) -> SshProcess:
    delay = 0.05
    for attempt in range(_OPEN_RETRIES + 1):
        try:
            return await _open_process_once(conn, command, encoding)
        except asyncssh.ChannelOpenError as exc:
            if exc.code not in _RETRY_OPEN_CODES or attempt == _OPEN_RETRIES:
                raise
        await asyncio.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


async def _open_process_once(
    conn: asyncssh.SSHClientConnection, command: str, encoding: str | None
) -> SshProcess:
    """Open a channel and start ``command``; if cancelled half-way, close it once open.

    Without the shield a cancel between the server starting the command and the reply
    would leave an open channel nobody closes, and so a process the watchdog never kills.
    """
    task: asyncio.Task[SshProcess] = asyncio.ensure_future(
        conn.create_process(command, encoding=encoding, errors="replace")
    )
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(_close_when_open)
        raise


def _close_when_open(task: asyncio.Task[SshProcess]) -> None:
    if task.cancelled():
        return
    if task.exception() is None:
        task.result().close()


async def _pump_stderr(
    reader: asyncssh.SSHReader[Any], on_line: Callable[[str], None] | None
) -> None:
    """Read stderr line by line (always: unread stderr would stall the channel window)."""
    while True:
        line = await reader.readline()
        if not line:
            return
        if on_line is not None:
            text = line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line)
            on_line(text.rstrip("\r\n"))


def _connect_reason(
    exc: Exception, *, host: str, where: str, known: str, username: str, timeout: float
) -> str:
    """One line for a failed connect; an exception not about connecting is raised again."""
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return f"host key verification failed for {where} ({exc.reason}; known_hosts {known})"
    if isinstance(exc, asyncssh.PermissionDenied):
        return f"authentication failed as {username!r} on {where}"
    if isinstance(exc, asyncssh.Error):
        return f"ssh to {where} failed: {exc.reason}"
    if isinstance(exc, TimeoutError):
        return f"connection to {where} timed out after {timeout:g}s"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {host} ({exc.strerror})"
    if isinstance(exc, OSError):
        return _os_reason(exc, where)
    return _setup_reason(exc)  # e.g. a malformed known_hosts or key file


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _stamp(path: str) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size, st.st_ino


def _os_reason(exc: OSError, where: str) -> str:
    text = str(exc)
    if (
        isinstance(exc, ConnectionRefusedError)
        or exc.errno == errno.ECONNREFUSED
        or ("Connect call failed" in text and "111" in text)
    ):
        return f"connection refused by {where}"
    if exc.filename:
        return f"cannot read {exc.filename}: {exc.strerror}"
    return f"cannot connect to {where}: {exc.strerror or text}"


def _setup_reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.filename:
        return f"cannot read {exc.filename}: {exc.strerror}"
    return f"bad ssh settings: {one_line(str(exc), 120)}"
