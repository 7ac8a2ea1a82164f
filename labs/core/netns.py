"""Helpers every lab shares: commands, namespaces, links, processes and sshd.

Everything runs real tools (``ip``, ``tc``, ``sysctl``, ``ssh-keygen``, OpenSSH's
``sshd``) with argv lists; a failure becomes a one-line ``CloudtalesError`` naming
the command and the first line it printed.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.errors import CloudtalesError

SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")

# tool -> the Debian package that ships it
BASE_TOOLS = {
    "ip": "iproute2",
    "sysctl": "procps",
    "sshd": "openssh-server",
    "ssh-keygen": "openssh-client",
    "unshare": "util-linux",
}


# ---------------------------------------------------------------- commands


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = 30.0,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; with ``check`` a failure is a one-line CloudtalesError."""
    args = list(argv)
    try:
        return subprocess.run(
            args, check=check, capture_output=True, text=True, timeout=timeout, input=input_text
        )
    except FileNotFoundError:
        raise CloudtalesError(f"{args[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise CloudtalesError(f"`{shlex.join(args)}` timed out after {timeout:g} s") from None
    except subprocess.CalledProcessError as exc:
        said = _first_line(exc.stderr) or _first_line(exc.stdout) or f"exit status {exc.returncode}"
        raise CloudtalesError(f"`{shlex.join(args)}` failed: {said}") from None


def _first_line(text: str | None) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def tool_path(name: str) -> str | None:
    """Where ``name`` is, looking in the sbin dirs too (a non-login PATH may lack them)."""
    found = shutil.which(name)
    if found:
        return found
    for d in SBIN_DIRS:
        candidate = Path(d) / name
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise CloudtalesError(
            f"{what} needs root (network namespaces, sshd on port 22): run with sudo"
        )


def require_tools(tools: Mapping[str, str]) -> None:
    """``tools`` maps a command to the apt package that provides it."""
    missing = {name: pkg for name, pkg in tools.items() if tool_path(name) is None}
    if missing:
        names = ", ".join(sorted(missing))
        pkgs = " ".join(sorted(set(missing.values())))
        raise CloudtalesError(f"{names} not found: apt install {pkgs}")


def in_ns(ns: str, argv: Sequence[str]) -> list[str]:
    """argv that runs inside namespace ``ns`` (with /etc/netns/NS/* bound over /etc)."""
    return ["ip", "netns", "exec", ns, *argv]


def ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["ip", *(("-n", ns) if ns else ()), *args], check=check)


# ---------------------------------------------------------------- namespaces


def namespaces(prefix: str = "") -> list[str]:
    out = run(["ip", "-j", "netns", "list"]).stdout.strip()
    names = [entry["name"] for entry in json.loads(out or "[]")]
    return sorted(n for n in names if n.startswith(prefix))


def add_namespace(name: str, sysctls: Mapping[str, str] | None = None) -> None:
    ip("netns", "add", name)
    ip("link", "set", "dev", "lo", "up", ns=name)
    if sysctls:
        sysctl(name, sysctls)


def delete_namespace(name: str) -> None:
    ip("netns", "delete", name, check=False)


def namespace_pids(name: str) -> list[int]:
    out = run(["ip", "netns", "pids", name], check=False).stdout
    return [int(tok) for tok in out.split() if tok.isdigit()]


def sysctl(ns: str, settings: Mapping[str, str]) -> None:
    run(in_ns(ns, ["sysctl", "-q", "-w", *(f"{k}={v}" for k, v in settings.items())]))


# ---------------------------------------------------------------- links


def add_veth(
    name: str,
    peer: str,
    *,
    ns: str | None = None,
    peer_ns: str | None = None,
    mtu: int = 1500,
    gso_max_segs: int | None = None,
) -> None:
    """A veth pair ``name`` (in ``ns``) <-> ``peer`` (in ``peer_ns``), both at ``mtu``.

    ``gso_max_segs=1`` makes every skb one wire frame (no TSO/GSO super-packets),
    for labs whose tc programs judge frames by their length.
    """
    each = ["mtu", str(mtu)]
    if gso_max_segs is not None:
        each += ["gso_max_segs", str(gso_max_segs)]
    target = ["netns", peer_ns] if peer_ns else []
    ip("link", "add", name, *each, "type", "veth", "peer", "name", peer, *each, *target, ns=ns)


def add_bridge(name: str, *, ns: str | None = None, stp: bool = False) -> None:
    ip("link", "add", "name", name, "type", "bridge", "stp_state", "1" if stp else "0", ns=ns)


def set_master(dev: str, bridge: str, *, ns: str | None = None) -> None:
    ip("link", "set", "dev", dev, "master", bridge, ns=ns)


def link_up(dev: str, *, ns: str | None = None) -> None:
    ip("link", "set", "dev", dev, "up", ns=ns)


def add_address(dev: str, cidr: str, *, ns: str | None = None) -> None:
    ip("addr", "add", cidr, "dev", dev, ns=ns)


def add_route(dest: str, via: str, *, ns: str | None = None) -> None:
    ip("route", "add", dest, "via", via, ns=ns)


def links(*, ns: str | None = None, prefix: str = "") -> list[str]:
    out = ip("-j", "link", "show", ns=ns, check=False).stdout.strip()
    names = [entry["ifname"] for entry in json.loads(out or "[]")]
    return [n for n in names if n.startswith(prefix)]


def link_parent(dev: str, *, ns: str | None = None) -> str | None:
    """The lower device of a stacked link (``vlan100@vlan20`` -> ``vlan20``), if any."""
    out = ip("-j", "link", "show", "dev", dev, ns=ns, check=False).stdout.strip()
    entries = json.loads(out or "[]")
    return str(entries[0]["link"]) if entries and entries[0].get("link") else None


def delete_link(dev: str, *, ns: str | None = None) -> None:
    ip("link", "delete", "dev", dev, ns=ns, check=False)


def route_owner(cidr: str) -> str | None:
    """The device that already routes ``cidr`` in the root namespace, if any."""
    out = run(["ip", "-j", "route", "show", "exact", cidr], check=False).stdout.strip()
    routes = json.loads(out or "[]")
    return str(routes[0].get("dev")) if routes else None


# ---------------------------------------------------------------- processes


def pid_alive(pid: int) -> bool:
    """True for a live process (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def stop_pids(pids: Iterable[int], timeout: float = 3.0) -> list[int]:
    """SIGTERM, then SIGKILL whatever is still alive at ``timeout``; returns the pids stopped."""
    targets = [p for p in dict.fromkeys(pids) if p != os.getpid() and pid_alive(p)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in targets:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(pid_alive(p) for p in targets):
            time.sleep(0.01)
        if not any(pid_alive(p) for p in targets):
            break
    return targets


# ---------------------------------------------------------------- sshd


@dataclass(frozen=True)
class SshHost:
    """One host's sshd: a namespace and the management address it listens on."""

    name: str
    netns: str
    address: str
    port: int = 22
    also_listen: tuple[str, ...] = ()  # more addresses, all pinned under the same host key

    @property
    def addresses(self) -> tuple[str, ...]:
        return (self.address, *self.also_listen)


@dataclass(frozen=True)
class SshFiles:
    """The client side of a lab's ssh: one key, and every host key pinned by address."""

    client_key: Path
    known_hosts: Path
    authorized_keys: Path


def ssh_files(run_dir: Path) -> SshFiles:
    return SshFiles(
        client_key=run_dir / "id_ed25519",
        known_hosts=run_dir / "known_hosts",
        authorized_keys=run_dir / "authorized_keys",
    )


def sshd_dir(run_dir: Path, host: str) -> Path:
    return run_dir / "hosts" / host


def _keygen(path: Path, comment: str) -> subprocess.Popen[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    Path(f"{path}.pub").unlink(missing_ok=True)
    argv = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


SSHD_CONFIG = """\
# scratch sshd for a cloudtales lab host ({name}); started with `ip netns exec {netns}`
Port {port}
{listen}
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
MaxStartups 100:30:200
MaxSessions 64
# skip the login shell's ~/.bashrc on every command (see LAB-NOTES.md)
SetEnv SHLVL=1
Subsystem sftp internal-sftp
"""


def prepare_ssh(run_dir: Path, hosts: Sequence[SshHost], comment: str) -> SshFiles:
    """Scratch host keys and sshd configs, one client key, and a pinned known_hosts."""
    files = ssh_files(run_dir)
    jobs = [_keygen(files.client_key, f"{comment} client")]
    jobs += [
        _keygen(sshd_dir(run_dir, h.name) / "ssh_host_ed25519_key", f"{comment} {h.name}")
        for h in hosts
    ]
    for job in jobs:
        _, err = job.communicate(timeout=30)
        if job.returncode != 0:
            raise CloudtalesError(f"ssh-keygen failed: {_first_line(err) or job.returncode}")
    files.authorized_keys.write_text(Path(f"{files.client_key}.pub").read_text())
    pinned = []
    for h in hosts:
        d = sshd_dir(run_dir, h.name)
        key_type, key = (d / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        where = [a if h.port == 22 else f"[{a}]:{h.port}" for a in h.addresses]
        pinned.append(f"{','.join(where)} {key_type} {key}\n")
        (d / "sshd_config").write_text(
            SSHD_CONFIG.format(
                name=h.name,
                netns=h.netns,
                port=h.port,
                listen="\n".join(f"ListenAddress {a}" for a in h.addresses),
                host_key=d / "ssh_host_ed25519_key",
                pid_file=d / "sshd.pid",
                authorized_keys=files.authorized_keys,
            )
        )
    files.known_hosts.write_text("".join(pinned))
    return files


SET_HOSTNAME = 'echo "$0" > /proc/sys/kernel/hostname && exec "$@"'


def start_sshds(run_dir: Path, hosts: Sequence[SshHost], timeout: float = 10.0) -> dict[str, int]:
    """Start every host's sshd in its namespace (in parallel); wait until each listens."""
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege-separation dir
    sshd = tool_path("sshd") or "/usr/sbin/sshd"  # sshd re-execs itself: it needs a full path
    starts = []
    for h in hosts:
        d = sshd_dir(run_dir, h.name)
        (d / "sshd.pid").unlink(missing_ok=True)
        # its own UTS namespace, so `hostname` and prompts name the lab host
        argv = in_ns(
            h.netns,
            [
                "unshare",
                "--uts",
                "--",
                "sh",
                "-c",
                SET_HOSTNAME,
                h.name,
                sshd,
                "-f",
                str(d / "sshd_config"),
                "-E",
                str(d / "sshd.log"),
            ],
        )
        starts.append(
            (
                h,
                subprocess.Popen(
                    argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
                ),
            )
        )
    for h, proc in starts:
        _, err = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            raise CloudtalesError(f"sshd on {h.name} failed to start: {_first_line(err)}")
    # sshd forks, then binds, then writes its pid file: the pid file means "listening"
    pids: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    for h, _ in starts:
        while (pid := sshd_pid(run_dir, h.name)) is None:
            if time.monotonic() > deadline:
                log = sshd_dir(run_dir, h.name) / "sshd.log"
                said = _first_line(log.read_text()) if log.exists() else "no log"
                raise CloudtalesError(f"sshd on {h.name} ({h.address}) did not start: {said}")
            time.sleep(0.005)
        pids[h.name] = pid
    return pids


def sshd_pid(run_dir: Path, host: str) -> int | None:
    """The pid of ``host``'s lab sshd if it is alive (checked against its command line)."""
    d = sshd_dir(run_dir, host)
    try:
        pid = int((d / "sshd.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    # sshd rewrites its title ("sshd: /usr/sbin/sshd -f CONFIG ... [listener]"): match a substring
    if not pid_alive(pid) or str(d / "sshd_config") not in " ".join(cmdline(pid)):
        return None
    return pid


def stop_sshds(run_dir: Path) -> list[int]:
    """Stop every sshd started from ``run_dir``, even one whose namespace is gone."""
    hosts_dir = run_dir / "hosts"
    if not hosts_dir.is_dir():
        return []
    pids = [p for d in hosts_dir.iterdir() if (p := sshd_pid(run_dir, d.name)) is not None]
    return stop_pids(pids)
