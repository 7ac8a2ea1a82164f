"""Neutron-side sources: the metadata path and security groups.

The metadata path: an HTTP probe of 169.254.169.254 from the instance (with its route),
the TCP listeners of a namespace, the bounded tail of a service log, an ini file.
Security groups: the firewall rules with their counters (``iptables-save -c``), the
conntrack table, a TCP connect probe and a SYN capture on one interface.
"""

from __future__ import annotations

import re
import shlex

from engine.sources.registry import register
from engine.sources.spec import AbsPath, Iface, NoParams, Source, SourceParams

METADATA_IP = "169.254.169.254"
MAX_LOG_BYTES = 256 * 1024
MAX_INI_BYTES = 256 * 1024
MAX_RULES_BYTES = 1 << 20
MAX_CONNTRACK_LINES = 5000


class HttpProbeParams(SourceParams):
    path: str = "/latest/meta-data/instance-id"
    max_time: int = 3


def http_probe_command(p: HttpProbeParams) -> str:
    """The route to 169.254.169.254, what a bare TCP connect to port 80 said (refused,
    unreachable: curl says neither), then one GET with curl: ``http CODE`` and its exit."""
    if not p.path.startswith("/") or any(c.isspace() for c in p.path):
        raise ValueError(f"metadata path {p.path!r} must start with / and hold no spaces")
    url = shlex.quote(f"http://{METADATA_IP}{p.path}")
    return (
        f'echo "route $(ip -o -4 route get {METADATA_IP} 2>&1 | head -n 1)"; '
        f'echo "tcp $(timeout {int(p.max_time)} bash -c '
        f"'exec 3<>/dev/tcp/{METADATA_IP}/80' 2>&1 | head -n 1)\"; "
        f"curl -s -o /dev/null -w 'http %{{http_code}}\\n' --max-time {int(p.max_time)} {url}; "
        'echo "curl_exit $?"'
    )


class LogTailParams(SourceParams):
    path: AbsPath
    max_bytes: int = MAX_LOG_BYTES


class IniParams(SourceParams):
    path: AbsPath


class ConnectParams(SourceParams):
    target: str
    port: int = 22
    seconds: int = 3


def connect_command(p: ConnectParams) -> str:
    """One TCP connect with bash's /dev/tcp: ``connect_exit N`` (124: timed out)."""
    if not re.fullmatch(r"[A-Za-z0-9.:-]+", p.target):
        raise ValueError(f"connect target {p.target!r} is not an address or a host name")
    inner = shlex.quote(f"exec 3<>/dev/tcp/{p.target}/{int(p.port)}")
    return (
        f"out=$(timeout {int(p.seconds)} bash -c {inner} 2>&1); rc=$?; "
        'echo "connect_exit $rc"; printf \'%s\\n\' "$out" | head -n 3'
    )


class SynCaptureParams(SourceParams):
    iface: Iface
    port: int = 22
    seconds: int = 5
    count: int = 50


def syn_capture_command(p: SynCaptureParams) -> str:
    bpf = shlex.quote(
        f"tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack == 0 and dst port {int(p.port)}"
    )
    return (
        f"timeout {int(p.seconds)} tcpdump -i {shlex.quote(p.iface)} -nn -l "
        f"--immediate-mode -c {int(p.count)} {bpf} 2>&1; true"
    )


register(
    Source(
        "metadata_http_probe",
        "From the instance: the route to 169.254.169.254 and one HTTP GET (curl)",
        live=http_probe_command,
        params=HttpProbeParams,
        offline=False,
        sos_note="an HTTP answer from 169.254.169.254 exists only while asked",
        parser="engine.detectors.metadata.parse_probe",
    )
)
register(
    Source(
        "tcp_listeners",
        "TCP listeners of this network namespace with their processes (ss -Hltnp)",
        live=lambda _p: "ss -Hltnp",
        params=NoParams,
        sos=("sos_commands/networking/ss_-peaonmi", "sos_commands/networking/netstat_-W_-neopa"),
        parser="engine.detectors.metadata.parse_listeners",
    )
)
register(
    Source(
        "service_log_tail",
        "The last 256 KiB of a service's log",
        live=lambda p: f"tail -c {int(p.max_bytes)} -- {shlex.quote(p.path)}",
        params=LogTailParams,
        sos=("var/log/neutron/*.log", "var/log/nova/nova-api-metadata.log", "var/log/haproxy.log"),
        parser="engine.detectors.metadata.scan_logs",
    )
)
register(
    Source(
        "ini_file",
        "A service's ini file (metadata_agent.ini, nova.conf), bounded to 256 KiB",
        live=lambda p: f"head -c {MAX_INI_BYTES} -- {shlex.quote(p.path)}",
        params=IniParams,
        sos=("etc/neutron/metadata_agent.ini", "etc/nova/nova.conf"),
        parser="engine.detectors.metadata.parse_ini",
    )
)
register(
    Source(
        "iptables_rules",
        "The firewall rules with their packet counters (iptables-save -c), bounded",
        live=lambda _p: f"iptables-save -c | head -c {MAX_RULES_BYTES}",
        sos=("sos_commands/networking/iptables-save",),
        parser="engine.parsers.iptables_save.parse_iptables_save",
    )
)
register(
    Source(
        "conntrack_table",
        "The connection tracking table (conntrack -L), bounded",
        live=lambda _p: f"conntrack -L 2>/dev/null | head -n {MAX_CONNTRACK_LINES}",
        offline=False,
        sos_note="conntrack state is only worth reading while the fault happens",
        parser="engine.parsers.iptables_save.parse_conntrack",
    )
)
register(
    Source(
        "tcp_connect_probe",
        "One TCP connect to TARGET:PORT (bash /dev/tcp, bounded by timeout)",
        live=connect_command,
        params=ConnectParams,
        offline=False,
        sos_note="a connect attempt exists only while it is made",
        parser="engine.detectors.secgroup.parse_connect",
    )
)
register(
    Source(
        "syn_capture",
        "TCP SYNs to a port seen on an interface for a few seconds (tcpdump, text)",
        live=syn_capture_command,
        params=SynCaptureParams,
        offline=False,
        sos_note="a capture exists only while the traffic crosses",
        parser="engine.detectors.secgroup.count_syns",
    )
)
