"""Root where checks need it: ``sudo -n`` for hosts whose login is not root.

Setting (per host, in the inventory, or from ``ansible_become``)::

    become: sudo | none      # default: none when the login user is root, sudo otherwise

The login user is the host's ``username``, else ``ssh.username``, else the ssh config's
``User`` for the host's address, else the local user (what ssh itself would use); a
``transport: local`` host is this process's user.

``PrivilegedRunner`` wraps another runner. For a ``sudo`` host it first asks the host,
once, whether ``sudo -n`` works (one short command, ``SUDO_PROBE``; its answer is cached
for the runner's life) and then runs every command as ``sudo -n -- sh -c CMD``. When sudo
would prompt, nothing runs and the check fails with one line the operator can act on::

    host nc01: sudo needs a password (sudo -n refused); add a NOPASSWD rule for ops
    (ops ALL=(root) NOPASSWD: ALL in /etc/sudoers.d/cloudtales) or log in as root

Cancelling still reaches the command: the remote watchdog signals ``sudo``, which relays
the signal to the root shell it started, whose trap then ends the whole session as root
(``sudo_command``). ``sudo -n`` never reads a password, so a missing rule can never hang
a check on a prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import shlex
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, Literal

from engine.errors import CloudtalesError
from engine.remote.inventory import Host, Inventory
from engine.remote.runner import CommandResult, Runner

Become = Literal["sudo", "none"]
SudoState = Literal["root", "nopasswd", "password", "not-allowed", "no-sudo", "refused"]

# One POSIX sh line; prints uid=, user=, then sudo=root|absent or sudo_rc= and sudo_said=.
SUDO_PROBE = (
    # uid from /proc/self/status, the name from /etc/passwd, with shell builtins (each
    # command started costs the host about 1 ms of CPU); one `id` where either lacks it
    'u=; n=; while read -r k v _; do if [ "$k" = Uid: ]; then u=$v; break; fi; done '
    "2>/dev/null </proc/self/status; "
    'if [ -n "$u" ]; then while IFS=: read -r k _ v _; do if [ "$v" = "$u" ]; then n=$k; '
    "break; fi; done 2>/dev/null </etc/passwd; fi; "
    'if [ -z "$n" ]; then '
    'i=$(LC_ALL=C id); u=${i#uid=}; u=${u%%[!0-9]*}; n=${i#"uid=$u("}; '
    'case $i in "uid=$u("*) n=${n%%")"*};; *) n=;; esac; fi; '
    'echo "uid=$u"; echo "user=$n"; '
    'if [ "$u" = 0 ]; then echo sudo=root; '
    "elif ! command -v sudo >/dev/null 2>&1; then echo sudo=absent; "
    'else out=$(LC_ALL=C sudo -n true 2>&1 </dev/null); echo "sudo_rc=$?"; '
    "printf '%s\\n' \"$out\" | head -n 2 | sed 's/^/sudo_said=/'; fi"
)
PROBE_TIMEOUT = 15.0
_PASSWORD_SIGNS = ("password is required", "a terminal is required", "askpass")
_DENIED_SIGNS = ("not in the sudoers", "is not allowed to", "may not run sudo")


class PrivilegeError(CloudtalesError):
    """A host where root is needed but sudo would prompt (or is missing)."""


@dataclass(frozen=True)
class SudoStatus:
    state: SudoState
    user: str
    said: str = ""  # what sudo printed, first lines

    @property
    def ok(self) -> bool:
        return self.state in ("root", "nopasswd")

    @property
    def label(self) -> str:
        """Short, for tables: root | nopasswd | password | denied | no sudo | refused."""
        return {"not-allowed": "denied", "no-sudo": "no sudo"}.get(self.state, self.state)

    def error(self, host: str) -> PrivilegeError:
        rule = f"{self.user} ALL=(root) NOPASSWD: ALL in /etc/sudoers.d/cloudtales"
        if self.state == "password":
            why = "sudo needs a password (sudo -n refused)"
        elif self.state == "not-allowed":
            why = f"{self.user} may not use sudo ({self.said or 'not in sudoers'})"
        elif self.state == "no-sudo":
            why = f"sudo is not installed and {self.user} is not root"
        else:
            why = f"sudo -n refused ({self.said or 'no reason given'})"
        return PrivilegeError(
            f"host {host}: {why}; add a NOPASSWD rule for {self.user} ({rule}) or log in as root"
        )


def parse_sudo_probe(text: str) -> SudoStatus:
    """The ``SUDO_PROBE`` output (possibly inside a bigger batched probe)."""
    fields: dict[str, str] = {}
    said: list[str] = []
    for line in text.splitlines():
        key, eq, value = line.partition("=")
        if not eq:
            continue
        if key == "sudo_said":
            if value.strip():
                said.append(value.strip())
        else:
            fields.setdefault(key, value.strip())
    user = fields.get("user") or f"uid {fields.get('uid', '?')}"
    text_said = "; ".join(said)
    if fields.get("sudo") == "root" or fields.get("uid") == "0":
        return SudoStatus("root", user)
    if fields.get("sudo") == "absent":
        return SudoStatus("no-sudo", user)
    if fields.get("sudo_rc") == "0":
        return SudoStatus("nopasswd", user)
    low = text_said.lower()
    if any(sign in low for sign in _PASSWORD_SIGNS):
        return SudoStatus("password", user, text_said)
    if any(sign in low for sign in _DENIED_SIGNS):
        return SudoStatus("not-allowed", user, text_said)
    return SudoStatus("refused", user, text_said)


def sudo_refused(stderr: str) -> bool:
    """True when a wrapped command's stderr shows sudo itself refused to run it."""
    low = stderr.lower()
    return low.startswith("sudo:") and any(s in low for s in (*_PASSWORD_SIGNS, *_DENIED_SIGNS))


def login_user(host: Host, inventory: Inventory) -> str:
    """Who the commands run as on ``host`` before any sudo (see the module docstring)."""
    if host.transport == "local":
        return _local_user()
    if host.username or inventory.ssh.username:
        return str(host.username or inventory.ssh.username)
    from engine.remote.ssh_config import config_path, resolve

    path = config_path(inventory)
    if path is not None:
        with contextlib.suppress(CloudtalesError):
            user = resolve(host.address, path).user
            if user:
                return user
    return _local_user()


def become_for(host: Host, inventory: Inventory) -> Become:
    if host.become is not None:
        return host.become
    return "none" if login_user(host, inventory) == "root" else "sudo"


# Run as root under sudo: the command in the background, and a TERM trap that ends the
# whole session as root. Cancelling signals ``sudo`` (it runs as the login user's real
# uid); sudo relays the signal only to the process it started, and the command's own
# children run as root, out of the user's reach: without the trap they would outlive
# the cancel (measured with sudo 1.9.13: ``sleep`` survived, reparented to init).
_ROOT_WATCHDOG = (
    'trap "trap \\"\\" TERM; pkill -TERM -s 0 || kill -TERM 0" TERM; sh -c "$1" & wait $!'
)


def sudo_command(command: str) -> str:
    """``command`` as root through ``sudo -n`` (never prompts; see ``_ROOT_WATCHDOG``)."""
    return f"sudo -n -- sh -c {shlex.quote(_ROOT_WATCHDOG)} cloudtales {shlex.quote(command)}"


def with_privilege(runner: Runner, inventory: Inventory) -> Runner:
    """``runner`` itself when every host logs in as root or says ``become: none``."""
    if any(become_for(h, inventory) == "sudo" for h in inventory.hosts.values()):
        return PrivilegedRunner(runner, inventory)
    return runner


class PrivilegedRunner:
    """Runs each command of a ``sudo`` host under ``sudo -n`` (see the module docstring)."""

    def __init__(self, inner: Runner, inventory: Inventory) -> None:
        self.inner = inner
        self.inventory = inventory
        self._status: dict[str, asyncio.Future[SudoStatus]] = {}

    async def sudo_status(self, host: Host) -> SudoStatus:
        """Whether ``sudo -n`` works on ``host`` (asked once; a failed ask is retried)."""
        task = self._status.get(host.name)
        if task is None or (task.done() and task.exception() is not None):
            task = asyncio.ensure_future(self._probe(host))
            self._status[host.name] = task
        return await asyncio.shield(task)

    def remember(self, host: str, status: SudoStatus) -> None:
        """Seed the answer for ``host`` (``cloudtales hosts`` already asked)."""
        future: asyncio.Future[SudoStatus] = asyncio.get_running_loop().create_future()
        future.set_result(status)
        self._status[host] = future

    async def _probe(self, host: Host) -> SudoStatus:
        res = await self.inner.run(host, SUDO_PROBE, timeout=PROBE_TIMEOUT)
        return parse_sudo_probe(res.stdout)

    async def _command(self, host: Host, command: str) -> str:
        if become_for(host, self.inventory) != "sudo":
            return command
        status = await self.sudo_status(host)
        if status.state == "root":
            return command
        if not status.ok:
            raise status.error(host.name)
        return sudo_command(command)

    async def run(self, host: Host, command: str, timeout: float = 30.0) -> CommandResult:
        wrapped = await self._command(host, command)
        res = await self.inner.run(host, wrapped, timeout)
        if wrapped != command and res.exit_status != 0 and sudo_refused(res.stderr):
            status = self._status[host.name].result()
            refused = SudoStatus("password", status.user, res.stderr.strip().splitlines()[0])
            raise refused.error(host.name)
        return CommandResult(
            res.host, command, res.exit_status, res.stdout, res.stderr, res.duration
        )

    async def stream_lines(
        self, host: Host, command: str, timeout: float = 60.0
    ) -> AsyncGenerator[str, None]:
        wrapped = await self._command(host, command)
        async with contextlib.aclosing(self.inner.stream_lines(host, wrapped, timeout)) as lines:
            async for line in lines:
                yield line

    async def stream_bytes(
        self,
        host: Host,
        command: str,
        timeout: float = 60.0,
        on_stderr: Callable[[str], None] | None = None,
    ) -> AsyncGenerator[bytes, None]:
        wrapped = await self._command(host, command)
        stream = self.inner.stream_bytes(host, wrapped, timeout, on_stderr)
        async with contextlib.aclosing(stream) as chunks:
            async for chunk in chunks:
                yield chunk

    async def close(self) -> None:
        for task in self._status.values():
            task.cancel()
        await self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # anything else a caller expects of the wrapped runner (runner_for, ...)
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "root" if os.geteuid() == 0 else str(os.geteuid())
