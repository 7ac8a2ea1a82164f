"""The DHCP client of a host: which client processes run, and the interface's addresses.

One remote command (``client_report_command``) prints both: a ``proc PID ARGS`` line
per DHCP client process in the *same network namespace* as the shell (so a host with
namespaces, or a lab, does not count another namespace's dhclient), then ``addr`` and
the JSON of ``ip -j -4 addr show dev IFACE``.

>>> r = parse_client_report("proc 42 dhclient -1 -v eth0\\naddr []\\n", "instance")
>>> [p.name for p in r.clients_for("eth0")], r.addresses, r.iface_present
(['dhclient'], (), True)
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from engine.errors import CloudtalesError

CLIENT_NAMES = ("dhclient", "udhcpc", "dhcpcd", "systemd-network", "NetworkManager")
# clients that manage every interface unless told otherwise
_ALL_IFACES = ("systemd-network", "NetworkManager")


def client_report_command(iface: str) -> str:
    names = "|".join(CLIENT_NAMES)
    dev = shlex.quote(iface)
    return (
        "self=$(readlink /proc/self/ns/net); "
        f"for p in $(pgrep -x '{names}' 2>/dev/null); do "
        '[ "$(readlink /proc/$p/ns/net 2>/dev/null)" = "$self" ] || continue; '
        "printf 'proc %s %s\\n' \"$p\" \"$(tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null)\"; "
        "done; "
        f"printf 'addr %s\\n' \"$(ip -j -4 addr show dev {dev} 2>&1 | head -c 65536)\""
    )


@dataclass(frozen=True)
class ClientProcess:
    pid: int
    args: str

    @property
    def name(self) -> str:
        first = self.args.split(" ", 1)[0]
        return first.rsplit("/", 1)[-1] or "?"

    def serves(self, iface: str) -> bool:
        """True when the command line names ``iface``, or names no interface at all
        (dhclient then serves every interface; NetworkManager and networkd always do)."""
        words = self.args.split()
        if iface in words or self.name.startswith(_ALL_IFACES):
            return True
        last = words[-1] if len(words) > 1 else ""
        return not last or last.startswith("-") or "/" in last


@dataclass(frozen=True)
class ClientReport:
    processes: tuple[ClientProcess, ...]
    addresses: tuple[str, ...]  # CIDR, e.g. 10.0.0.5/24
    iface_present: bool

    def clients_for(self, iface: str) -> list[ClientProcess]:
        return [p for p in self.processes if p.serves(iface)]


def parse_client_report(text: str, source: str) -> ClientReport:
    """Parse ``client_report_command`` output; a missing ``addr`` line is an error."""
    procs: list[ClientProcess] = []
    addr_json: str | None = None
    for line in text.splitlines():
        if line.startswith("proc "):
            _, pid, *rest = line.split(" ", 2)
            if pid.isdigit():
                procs.append(ClientProcess(int(pid), rest[0].strip() if rest else ""))
        elif line.startswith("addr "):
            addr_json = line[5:]
    if addr_json is None:
        raise CloudtalesError(f"{source}: no address report in the output")
    addr_json = addr_json.strip()
    if not addr_json.startswith("["):  # "Device "eth9" does not exist."
        return ClientReport(tuple(procs), (), False)
    try:
        entries = json.loads(addr_json)
    except ValueError:
        raise CloudtalesError(f"{source}: ip -j addr output is not JSON") from None
    addrs = []
    for entry in entries if isinstance(entries, list) else []:
        for info in entry.get("addr_info", []) if isinstance(entry, dict) else []:
            if isinstance(info, dict) and info.get("family") == "inet" and info.get("local"):
                addrs.append(f"{info['local']}/{info.get('prefixlen', 32)}")
    return ClientReport(tuple(procs), tuple(addrs), True)
