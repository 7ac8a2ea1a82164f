"""The "The Issue" lab's hosts, data path and services (dnsmasq, dhclient, iperf3).

``labs/the_issue/lab.py`` builds the lab from these; the qemu stand-in between ``tap0``
and the instance's ``eth0`` is ``labs/the_issue/qemu_bridge_bug_emulator.py``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from engine.errors import CloudtalesError
from labs.core import netns
from labs.core.host_plan import HostPlan, ssh_hosts
from labs.core.netns_lab import spawn
from labs.the_issue.qemu_bridge_bug_emulator import read_state

NS_PREFIX = "ct-ti-"
ROOT_PREFIX = "ctti-"
MGMT_BRIDGE = f"{ROOT_PREFIX}mgmt"
MGMT_NET = "10.250.2.0/24"
MGMT_GATEWAY = "10.250.2.254/24"
MODE = "tap-emulated-qemu"

INSTANCE_IP = "10.0.0.5"
INSTANCE_MAC = "fa:16:3e:00:00:05"
TAP_MAC = "fe:16:3e:00:00:05"  # libvirt/nova: the guest MAC with the high byte 0xfe
GATEWAY_IP = "10.0.0.1"
LEASE_SECONDS = 120  # nova's dhcp_lease_time (the tale: "it's now two minutes")
DRILL_LEASE = 20  # the instance's dhclient.conf supersedes the lease (drill clock)
DRILL_RENEW = 10
DRILL_REBIND = 17
DRILL_GIVE_UP = 6  # dhclient's `timeout`: seconds in INIT before it gives up
LOAD_MBITS = 40
STALL_AFTER = 6.0  # s of heavy load before the qemu stand-in stalls
LOAD_SECONDS = 900

TOOLS = {
    "dnsmasq": "dnsmasq-base",
    "dhclient": "isc-dhcp-client",
    "iperf3": "iperf3",
    "tcpdump": "tcpdump",
}


CONTROLLER = HostPlan(NS_PREFIX, "controller", "10.250.2.1", "ctti-ctl")
COMPUTE = HostPlan(NS_PREFIX, "compute", "10.250.2.2", "ctti-cmp")
INSTANCE = HostPlan(NS_PREFIX, "instance", "10.250.2.3", "ctti-ins")
HOSTS = (CONTROLLER, COMPUTE, INSTANCE)  # on the management network, with sshd
OUTSIDE_NS = f"{NS_PREFIX}outside"  # where the nightly backup comes from: no sshd
NAMESPACES = (*(h.netns for h in HOSTS), OUTSIDE_NS)
SSH_HOSTS = ssh_hosts(HOSTS)


def dnsmasq_argv(run_dir: Path) -> list[str]:
    """dnsmasq as nova-network's linux_net.py started it (trimmed to what matters here)."""
    d = run_dir / "controller"
    return [
        "dnsmasq",
        "--strict-order",
        "--bind-interfaces",
        f"--conf-file={d / 'dnsmasq-nova.conf'}",
        f"--pid-file={d / 'dnsmasq.pid'}",
        f"--listen-address={GATEWAY_IP}",
        "--except-interface=lo",
        f"--dhcp-range=set:private,{GATEWAY_IP.rsplit('.', 1)[0]}.2,static,"
        f"255.255.255.0,{LEASE_SECONDS}s",
        "--dhcp-lease-max=256",
        f"--dhcp-hostsfile={d / 'nova-br100.conf'}",
        f"--dhcp-leasefile={d / 'dnsmasq.leases'}",
        "--port=0",
        "--no-hosts",
        "--no-resolv",
        "--log-dhcp",
        f"--log-facility={d / 'dnsmasq.log'}",
    ]


DNSMASQ_CONF = """\
# nova's dnsmasq_config_file (extra options for every tenant network's dnsmasq)
# the lease time is not here: nova passes dhcp_lease_time on the command line
dhcp-authoritative
"""

DHCLIENT_CONF = f"""\
# the instance's /etc/dhcp/dhclient.conf, on a drill clock:
# the server grants {LEASE_SECONDS} s; this guest lives {LEASE_SECONDS // DRILL_LEASE}x faster
supersede dhcp-lease-time {DRILL_LEASE};
supersede dhcp-renewal-time {DRILL_RENEW};
supersede dhcp-rebinding-time {DRILL_REBIND};
timeout {DRILL_GIVE_UP};
retry 60;
initial-interval 1;
backoff-cutoff 2;
request subnet-mask, broadcast-address, routers, dhcp-lease-time,
        dhcp-renewal-time, dhcp-rebinding-time;
"""


def dhclient_pid_path(run_dir: Path) -> Path:
    return run_dir / "instance" / "dhclient.pid"


def dhclient_log(run_dir: Path) -> Path:
    return run_dir / "instance" / "dhclient.log"


def wire_data_path() -> None:
    """outside -- controller (router, br100) -- bond0 -- compute br100 -- tap0; eth0 (TAP)."""
    ctl, cmp_, ins, out = NAMESPACES
    netns.add_veth("eth0", "eth1", ns=out, peer_ns=ctl)
    netns.add_address("eth0", "203.0.113.10/24", ns=out)
    netns.link_up("eth0", ns=out)
    netns.add_route("10.0.0.0/24", "203.0.113.1", ns=out)
    netns.add_address("eth1", "203.0.113.1/24", ns=ctl)
    netns.link_up("eth1", ns=ctl)

    netns.add_bridge("br100", ns=ctl)
    netns.add_veth("bond0", "bond0", ns=ctl, peer_ns=cmp_)
    netns.set_master("bond0", "br100", ns=ctl)
    netns.add_address("br100", f"{GATEWAY_IP}/24", ns=ctl)
    for dev in ("bond0", "br100"):
        netns.link_up(dev, ns=ctl)

    netns.add_bridge("br100", ns=cmp_)
    netns.set_master("bond0", "br100", ns=cmp_)
    netns.ip("tuntap", "add", "dev", "tap0", "mode", "tap", ns=cmp_)
    netns.ip("link", "set", "dev", "tap0", "address", TAP_MAC, ns=cmp_)
    netns.set_master("tap0", "br100", ns=cmp_)
    for dev in ("bond0", "tap0", "br100"):
        netns.link_up(dev, ns=cmp_)

    netns.ip("tuntap", "add", "dev", "eth0", "mode", "tap", ns=ins)
    netns.ip("link", "set", "dev", "eth0", "address", INSTANCE_MAC, ns=ins)
    netns.link_up("eth0", ns=ins)


def start_dnsmasq(run_dir: Path) -> None:
    d = run_dir / "controller"
    (d / "dnsmasq-nova.conf").write_text(DNSMASQ_CONF)
    (d / "nova-br100.conf").write_text(f"{INSTANCE_MAC},instance.novalocal,{INSTANCE_IP}\n")
    netns.run(netns.in_ns(CONTROLLER.netns, dnsmasq_argv(run_dir)))


def start_dhclient(run_dir: Path) -> None:
    """``dhclient -1`` as ifupdown runs it (``-d``: in the foreground, so its pid is ours)."""
    d = run_dir / "instance"
    (d / "dhclient.conf").write_text(DHCLIENT_CONF)
    argv = ["dhclient", "-1", "-d", "-v", "-cf", str(d / "dhclient.conf"),
            "-pf", str(dhclient_pid_path(run_dir)), "-lf", str(d / "dhclient.leases"),
            "eth0"]  # fmt: skip
    spawn(INSTANCE.netns, argv, dhclient_log(run_dir))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if instance_address() == INSTANCE_IP:
            return
        time.sleep(0.05)
    tail = dhclient_log(run_dir).read_text().strip().splitlines()[-1:]
    raise CloudtalesError(f"the instance got no DHCP lease: {' '.join(tail) or 'no log'}")


def start_load(run_dir: Path, emulator_state: Path) -> None:
    """The nightly backup: ``iperf3 -s`` in the instance, a UDP stream from outside."""
    d = run_dir
    spawn(INSTANCE.netns, ["iperf3", "-s", "-B", INSTANCE_IP], d / "instance/iperf3.log")
    argv = ["iperf3", "-c", INSTANCE_IP, "-u", "-b", f"{LOAD_MBITS}M", "-l", "1400",
            "-t", str(LOAD_SECONDS), "--connect-timeout", "3000"]  # fmt: skip
    deadline = time.monotonic() + 10
    while True:  # the server listens a moment after it starts
        pid = spawn(OUTSIDE_NS, argv, d / "outside/iperf3.log")
        while time.monotonic() < deadline and netns.pid_alive(pid):
            st = read_state(emulator_state)
            if st is not None and st.rate_to_guest > 1e6:
                return
            time.sleep(0.05)
        if time.monotonic() >= deadline:
            raise CloudtalesError("iperf3 could not load the instance (see outside/iperf3.log)")
        time.sleep(0.1)


def instance_address() -> str | None:
    out = netns.ip("-j", "-4", "addr", "show", "dev", "eth0", ns=INSTANCE.netns, check=False)
    try:
        entries = json.loads(out.stdout or "[]")
    except ValueError:
        return None
    for entry in entries:
        for info in entry.get("addr_info", []):
            if info.get("family") == "inet":
                return str(info.get("local"))
    return None


def tap_drops() -> int | None:
    out = netns.ip("-s", "-j", "link", "show", "dev", "tap0", ns=COMPUTE.netns, check=False)
    try:
        entries = json.loads(out.stdout or "[]")
        return int(entries[0]["stats64"]["tx"]["dropped"])
    except (ValueError, LookupError, TypeError):
        return None
