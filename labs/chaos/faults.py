"""Fault injectors for chaos drills: break one lab host in the middle of a real walk.

Every fault acts on the lab's own namespaces with real tools, and every one can be
lifted again (``Injected.lift``) so a run leaves the lab as it found it or, when a
process died (sshd, mariadbd, RabbitMQ), so that ``lab.up()`` sees a problem and
rebuilds it:

- ``kill-sshd``: SIGKILL every sshd (listener and sessions) in the host's namespace;
- ``kill-tcpdump``: SIGKILL the tcpdump(s) a check runs in the host's namespace;
- ``stop-service``: stop a service the lab's walk relies on (``labs.chaos.services``:
  MariaDB, RabbitMQ, dnsmasq, the site resolver, haproxy and the metadata agent,
  nova-compute), on the host the walk reaches it through;
- ``drop-traffic``: an nftables table in the host's namespace that drops everything
  to and from the management address cloudtales reaches it on;
- ``freeze-sshd``: SIGSTOP every sshd in the host's namespace for longer than the
  running check's timeout, then SIGCONT.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from engine.errors import CloudtalesError
from labs.chaos.services import SERVICES, service_for
from labs.core import netns
from labs.core.base import Lab

FAULTS = ("kill-sshd", "kill-tcpdump", "stop-service", "drop-traffic", "freeze-sshd")
NFT_TABLE = "cloudtales_chaos"


def faults_for(lab_name: str) -> tuple[str, ...]:
    """The faults that make sense on ``lab_name`` (stop-service only where one runs)."""
    return tuple(f for f in FAULTS if f != "stop-service" or lab_name in SERVICES)


# ---------------------------------------------------------------- the lab's hosts


@dataclass(frozen=True)
class LabHost:
    name: str  # as the inventory names it (and the journal's check_started hosts)
    netns: str
    address: str  # the management address cloudtales connects to


def lab_hosts(lab: Lab) -> dict[str, LabHost]:
    """Every inventory host of a running lab with its namespace and management address."""
    path = lab.inventory_path()
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CloudtalesError(f"{path}: cannot read the lab inventory: {exc}") from None
    prefix = str(getattr(lab, "ns_prefix", ""))
    present = set(netns.namespaces(prefix))
    hosts: dict[str, LabHost] = {}
    for name, spec in (doc.get("hosts") or {}).items():
        ns = str((spec.get("vars") or {}).get("netns") or prefix + str(name))
        if ns not in present:
            raise CloudtalesError(f"{path}: host {name}: namespace {ns} is not there")
        hosts[str(name)] = LabHost(str(name), ns, str(spec["address"]))
    return hosts


def procs_named(ns: str, name: str) -> list[int]:
    """Processes called ``name`` (/proc/PID/comm) in namespace ``ns``."""
    found = []
    for pid in netns.namespace_pids(ns):
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if comm == name:
            found.append(pid)
    return found


def _signal(pids: Iterable[int], sig: signal.Signals) -> list[int]:
    done = []
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue
        done.append(pid)
    return done


# ---------------------------------------------------------------- injections


@dataclass
class Injected:
    """One fault in place: what it did, and how to undo what can be undone."""

    fault: str
    host: str  # the affected host (inventory name)
    how: str
    frozen: list[int] = field(default_factory=list)
    nft_ns: str | None = None
    rebuild: bool = False  # a process died: lab.up() must rebuild the lab
    restart: Callable[[], None] | None = None  # brings a stopped service back as built
    makes_true: tuple[str, ...] = ()  # diagnoses a stopped service makes true (services.py)
    _thaw: threading.Timer | None = None

    def lift(self) -> None:
        """SIGCONT what was frozen, remove the nftables table; idempotent."""
        if self._thaw is not None:
            self._thaw.cancel()
        _signal(self.frozen, signal.SIGCONT)
        if self.nft_ns is not None:
            netns.run(netns.in_ns(self.nft_ns, ["nft", "delete", "table", "inet", NFT_TABLE]),
                      check=False)  # fmt: skip
            self.nft_ns = None

    def restore(self) -> None:
        """Restart a stopped service the lab would not rebuild (after the walk's leftovers
        were counted: the restarted daemon is the lab's, not the walk's); idempotent."""
        if self.restart is not None:
            restart, self.restart = self.restart, None
            restart()


def kill_sshd(host: LabHost) -> Injected:
    pids = _signal(procs_named(host.netns, "sshd"), signal.SIGKILL)
    return Injected("kill-sshd", host.name, f"SIGKILL sshd pids {pids}", rebuild=True)


def kill_tcpdump(host: LabHost) -> Injected:
    pids = _signal(procs_named(host.netns, "tcpdump"), signal.SIGKILL)
    return Injected("kill-tcpdump", host.name, f"SIGKILL tcpdump pids {pids}")


def stop_service(lab: Lab, host: LabHost, pick: float = 0.0) -> Injected:
    service = service_for(lab.name, pick)
    if service.host != host.name:
        raise CloudtalesError(
            f"lab {lab.name}: {service.what} runs on {service.host}, not {host.name}"
        )
    done = service.stop(lab)
    how = f"stopped {service.what} pids {done.pids}"
    return Injected(
        "stop-service",
        host.name,
        how,
        rebuild=done.restart is None,
        restart=done.restart,
        makes_true=service.makes_true,
    )


NFT_RULES = """\
table inet {table} {{
  chain input {{ type filter hook input priority -300; policy accept; ip daddr {addr} drop; }}
  chain output {{ type filter hook output priority -300; policy accept; ip saddr {addr} drop; }}
}}
"""


def drop_traffic(host: LabHost) -> Injected:
    rules = NFT_RULES.format(table=NFT_TABLE, addr=host.address)
    netns.run(netns.in_ns(host.netns, ["nft", "-f", "-"]), input_text=rules)
    done = Injected("drop-traffic", host.name, f"nft drops {host.address} in {host.netns}")
    done.nft_ns = host.netns
    return done


def freeze_sshd(host: LabHost, seconds: float) -> Injected:
    pids = _signal(procs_named(host.netns, "sshd"), signal.SIGSTOP)
    done = Injected("freeze-sshd", host.name, f"SIGSTOP sshd pids {pids} for {seconds:g} s")
    done.frozen = pids
    # a harness timer, not a synchronisation: the freeze must outlast the check's timeout
    done._thaw = threading.Timer(seconds, _signal, args=(pids, signal.SIGCONT))
    done._thaw.daemon = True
    done._thaw.start()
    return done


def inject(
    fault: str, lab: Lab, host: LabHost, freeze_seconds: float = 35.0, pick: float = 0.0
) -> Injected:
    """Put ``fault`` on ``host`` of the running ``lab`` now (``pick``: which of the lab's
    services stop-service stops)."""
    if fault == "kill-sshd":
        return kill_sshd(host)
    if fault == "kill-tcpdump":
        return kill_tcpdump(host)
    if fault == "stop-service":
        return stop_service(lab, host, pick)
    if fault == "drop-traffic":
        return drop_traffic(host)
    if fault == "freeze-sshd":
        return freeze_sshd(host, freeze_seconds)
    raise CloudtalesError(f"unknown fault {fault!r} (known: {', '.join(FAULTS)})")


# ---------------------------------------------------------------- what a walk leaves behind


def lab_processes(lab: Lab) -> dict[int, str]:
    """pid -> namespace of every process in the lab's namespaces."""
    prefix = str(getattr(lab, "ns_prefix", ""))
    return {p: ns for ns in netns.namespaces(prefix) for p in netns.namespace_pids(ns)}


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def remote_leftovers(lab: Lab, before: Iterable[int]) -> list[str]:
    """Processes a walk started in the lab and left alive: a tcpdump, or anything new that
    runs under an sshd session or was orphaned (reparented to pid 1) by one."""
    old = set(before)
    left = []
    for pid, ns in lab_processes(lab).items():
        if pid in old or not netns.pid_alive(pid):
            continue
        comm = _comm(pid)
        chain, parent = [], _ppid(pid)
        while parent and parent not in chain:
            chain.append(parent)
            parent = _ppid(parent)
        under_sshd = any(_comm(p) == "sshd" for p in chain if p != 1)
        orphan = _ppid(pid) == 1 and comm != "sshd"  # a new listener is the lab's own
        if comm == "tcpdump" or under_sshd or orphan:
            left.append(f"{ns} pid {pid} {' '.join(netns.cmdline(pid))[:120]}")
    return left
