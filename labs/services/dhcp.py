"""Real dnsmasq and dhclient in lab namespaces, started by hand (Debian's packages).

``dnsmasq_argv`` is dnsmasq as neutron's DHCP agent starts it for one tenant network
(trimmed to what matters: ``--conf-file`` is the agent's ``dnsmasq_config_file``);
``start_dhclient`` runs ``dhclient -1 -d`` on the instance with its own config, lease
and pid files under the lab's run dir, and waits for the address.

dhclient-script writes ``/etc/resolv.conf`` when the server hands out name servers: a
lab that runs it must give the namespace its own ``/etc/netns/NS/resolv.conf`` first
(``ip netns exec`` binds it over ``/etc/resolv.conf``), so the host's file is never
touched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from engine.errors import CloudtalesError
from labs.core import netns
from labs.core.netns_lab import spawn

TOOLS = {"dnsmasq": "dnsmasq-base", "dhclient": "isc-dhcp-client"}


@dataclass(frozen=True)
class DnsmasqPlan:
    """One tenant network's dnsmasq: where it listens and what it hands out."""

    netns: str
    iface: str
    gateway: str  # its own address on ``iface``
    hosts: tuple[tuple[str, str, str], ...]  # (mac, hostname, ip)
    run_dir: Path  # its files: conf, hosts, leases, pid, log
    conf_text: str  # the DHCP agent's dnsmasq_config_file
    conf_file: str  # where dnsmasq reads it, as seen inside the namespace
    conf_written: Path  # where the lab writes it (an /etc/netns/NS bind, or the same)
    dns: bool = False  # serve DNS on port 53 too (False: --port=0, DHCP only)
    upstream: tuple[str, ...] = ()  # --server=IP forwarders when dns is on

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "dnsmasq.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "dnsmasq.log"


def dnsmasq_argv(plan: DnsmasqPlan) -> list[str]:
    d = plan.run_dir
    prefix = plan.gateway.rsplit(".", 1)[0]
    argv = [
        "dnsmasq",
        "--no-hosts",
        "--no-resolv",  # upstream servers only from --server
        "--bind-interfaces",
        f"--interface={plan.iface}",
        "--except-interface=lo",
        f"--pid-file={plan.pid_file}",
        f"--dhcp-hostsfile={d / 'host'}",
        f"--dhcp-leasefile={d / 'leases'}",
        f"--dhcp-range=set:tenant,{prefix}.0,static,255.255.255.0,86400s",
        "--dhcp-lease-max=256",
        f"--conf-file={plan.conf_file}",
        "--log-dhcp",
        f"--log-facility={plan.log_file}",
    ]
    if plan.dns:
        argv += ["--log-queries", f"--dhcp-option=option:dns-server,{plan.gateway}"]
        argv += [f"--server={s}" for s in plan.upstream]
    else:
        argv.append("--port=0")
    return argv


def start_dnsmasq(plan: DnsmasqPlan) -> None:
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    plan.conf_written.parent.mkdir(parents=True, exist_ok=True)
    plan.conf_written.write_text(plan.conf_text)
    (plan.run_dir / "host").write_text(
        "".join(f"{mac},{name},{ip}\n" for mac, name, ip in plan.hosts)
    )
    netns.run(netns.in_ns(plan.netns, dnsmasq_argv(plan)))


def dnsmasq_pid(plan: DnsmasqPlan) -> int | None:
    try:
        pid = int(plan.pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if "dnsmasq" in " ".join(netns.cmdline(pid)) else None


DHCLIENT_CONF = """\
# the instance's /etc/dhcp/dhclient.conf (Debian's request list, trimmed)
timeout 20;
request subnet-mask, broadcast-address, routers, interface-mtu,
        domain-name-servers, host-name;
"""


def start_dhclient(ns: str, iface: str, run_dir: Path, want_ip: str) -> None:
    """``dhclient -1`` in the foreground (its pid is ours); waits until ``iface`` has
    ``want_ip`` and the default route. dhclient-script adds the address, then applies
    option 26 (interface-mtu) when it came, then the routes: the route means it is done."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "dhclient.conf").write_text(DHCLIENT_CONF)
    log = run_dir / "dhclient.log"
    argv = ["dhclient", "-1", "-d", "-v", "-cf", str(run_dir / "dhclient.conf"),
            "-pf", str(run_dir / "dhclient.pid"), "-lf", str(run_dir / "dhclient.leases"),
            iface]  # fmt: skip
    spawn(ns, argv, log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        addr = netns.ip("-4", "-o", "addr", "show", "dev", iface, ns=ns).stdout
        if want_ip in addr and netns.ip("-4", "route", "show", "default", ns=ns).stdout.strip():
            return
        time.sleep(0.05)
    tail = log.read_text().strip().splitlines()[-1:] if log.exists() else []
    raise CloudtalesError(f"{ns}: no DHCP lease on {iface}: {' '.join(tail) or 'no log'}")
