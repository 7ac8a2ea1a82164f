"""Which hosts answer, and what each can do: the ``cloudtales hosts`` survey, UI-free.

One remote command per host batches every probe (a login shell start-up is the main
cost of a command, see LAB-NOTES "SSH fan-out"): the hostname and kernel, where each
tool is (``command -v``, then the sbin directories a non-root PATH lacks), and whether
``sudo -n`` works (``engine.privilege.SUDO_PROBE``). Hosts are probed concurrently,
``concurrency`` at a time: by default as many as ``RLIMIT_NOFILE`` has room for
connections (``engine.remote.connect_early.connection_budget``). ``on_done`` is called as each
host finishes, in finishing order, and the results come back in inventory order.
Cancelling the awaiting task cancels every probe (the runners kill the remote commands).

Probes run as the login user, never under sudo: they are how sudo gets checked.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from engine.errors import CloudtalesError
from engine.privilege import SUDO_PROBE, Become, SudoStatus, become_for, parse_sudo_probe
from engine.remote.inventory import Host, Inventory
from engine.remote.runner import Runner
from engine.remote.ssh_config import route

PROBE_TOOLS = ("tcpdump", "ip", "qemu-img", "virsh")
PROBE_TIMEOUT = 20.0
_TOOL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_SBIN = "/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class HostProbe:
    host: str
    address: str
    transport: str
    reachable: bool
    become: Become
    roles: tuple[str, ...] = ()
    connects_to: str = ""  # address[:port] after the ssh config (HostName, Port); "local"
    via: str | None = None  # the ProxyJump host, from the ssh config
    error: str | None = None
    hostname: str | None = None
    kernel: str | None = None
    user: str | None = None
    tools: dict[str, str | None] = field(default_factory=dict)  # tool -> path, or None
    sudo: SudoStatus | None = None
    seconds: float = 0.0

    @property
    def root_ok(self) -> bool:
        """Checks needing root can run: logged in as root, or ``sudo -n`` works."""
        return self.sudo is not None and self.sudo.ok

    @property
    def missing(self) -> list[str]:
        return [t for t, path in self.tools.items() if path is None]


def probe_script(tools: Sequence[str] = PROBE_TOOLS) -> str:
    """The one POSIX sh command line that answers every probe.

    It starts as few processes as it can (each costs about 1 ms of host CPU, and a
    ``$(...)`` forks even for a builtin): the hostname and kernel are read from /proc
    (``hostname``/``uname -r`` only where /proc lacks them), and a tool is found by
    walking ``$PATH`` then the sbin directories a non-root PATH lacks, the first
    executable file wins, as ``command -v`` would.
    """
    bad = [t for t in tools if not _TOOL_NAME.match(t)]
    if bad:
        raise CloudtalesError(f"not a tool name: {', '.join(bad)}")
    return (  # shell builtins where they do (each command started costs ~1 ms of host CPU)
        "h=; read -r h 2>/dev/null </proc/sys/kernel/hostname || h=$(hostname 2>/dev/null); "
        'echo "hostname=$h"; '
        "k=; read -r k 2>/dev/null </proc/sys/kernel/osrelease || k=$(uname -r 2>/dev/null); "
        'echo "kernel=$k"; '
        f"o=$IFS; s=$PATH:{_SBIN}; for t in {' '.join(tools)}; do p=; IFS=:; for d in $s; do "
        'if [ -n "$d" ] && [ -f "$d/$t" ] && [ -x "$d/$t" ]; then p="$d/$t"; break; fi; '
        'done; IFS=$o; echo "tool_$t=$p"; done; ' + SUDO_PROBE
    )


def parse_probe(
    host: Host,
    inventory: Inventory,
    stdout: str,
    tools: Sequence[str],
    reach: tuple[str, str | None],
    seconds: float,
) -> HostProbe:
    """``reach``: (where ssh connects, the ProxyJump host), from ``ssh_config.route``."""
    connects_to, via = reach
    fields: dict[str, str] = {}
    for line in stdout.splitlines():
        key, eq, value = line.partition("=")
        if eq:
            fields.setdefault(key, value.strip())
    return HostProbe(
        host=host.name,
        address=host.address,
        transport=host.transport,
        reachable=True,
        become=become_for(host, inventory),
        roles=tuple(host.roles),
        connects_to=connects_to,
        via=via,
        hostname=fields.get("hostname") or None,
        kernel=fields.get("kernel") or None,
        user=fields.get("user") or None,
        tools={t: fields.get(f"tool_{t}") or None for t in tools},
        sudo=parse_sudo_probe(stdout),
        seconds=seconds,
    )


async def probe_host(
    runner: Runner,
    inventory: Inventory,
    host: Host,
    tools: Sequence[str] = PROBE_TOOLS,
    timeout: float = PROBE_TIMEOUT,
) -> HostProbe:
    started = time.monotonic()
    try:
        connects_to, via = route(host, inventory)
    except CloudtalesError:
        connects_to, via = host.address, None

    def unreachable(error: str, seconds: float) -> HostProbe:
        return HostProbe(
            host=host.name,
            address=host.address,
            transport=host.transport,
            reachable=False,
            become=become_for(host, inventory),
            roles=tuple(host.roles),
            connects_to=connects_to,
            via=via,
            error=error,
            seconds=seconds,
        )

    # the probe ends by itself at once: no remote watchdog where the runner can skip it
    run = getattr(runner, "run_short", None) or runner.run
    try:
        res = await run(host, probe_script(tools), timeout=timeout)
    except CloudtalesError as exc:
        return unreachable(_reason(str(exc), host.name), time.monotonic() - started)
    seconds = time.monotonic() - started
    if "uid=" not in res.stdout:
        said = (res.stderr.strip().splitlines() or [f"exit status {res.exit_status}"])[0]
        return unreachable(f"logged in, but the probe failed: {said[:160]}", seconds)
    return parse_probe(host, inventory, res.stdout, tools, (connects_to, via), seconds)


async def probe_hosts(
    inventory: Inventory,
    runner: Runner,
    *,
    hosts: Sequence[Host] | None = None,
    tools: Sequence[str] = PROBE_TOOLS,
    on_done: Callable[[HostProbe], None] = lambda probe: None,
    concurrency: int | None = None,
    timeout: float = PROBE_TIMEOUT,
) -> list[HostProbe]:
    """Probe ``hosts`` (default: every inventory host) concurrently."""
    targets = list(inventory.hosts.values()) if hosts is None else list(hosts)
    probe_script(tools)  # a bad tool name fails before anything connects
    gate = asyncio.Semaphore(max(1, concurrency or default_concurrency()))

    async def one(host: Host) -> HostProbe:
        async with gate:
            found = await probe_host(runner, inventory, host, tools, timeout)
        on_done(found)
        return found

    return list(await asyncio.gather(*(one(h) for h in targets)))


def default_concurrency() -> int:
    """Hosts at once: one SSH connection each, as many as ``RLIMIT_NOFILE`` leaves room for."""
    from engine.remote.connect_early import connection_budget

    return connection_budget()


def _reason(message: str, host: str) -> str:
    prefix = f"host {host}: "
    return message[len(prefix) :] if message.startswith(prefix) else message
