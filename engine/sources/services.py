"""Service sources: dnsmasq, DHCP clients, RabbitMQ."""

from __future__ import annotations

import shlex

from engine.parsers.dhcp_client import client_report_command
from engine.parsers.rabbitmqctl import list_queues_command
from engine.sources.registry import register
from engine.sources.spec import AbsPath, Iface, Source, SourceParams

EXTRAS = "sos_commands/sos_extras/cloudtales/"
MAX_DNSMASQ_CONF_BYTES = 256 * 1024
DNSMASQ_PROCESSES = (
    "self=$(readlink /proc/self/ns/net); "
    "for p in $(pgrep -x dnsmasq 2>/dev/null); do "
    '[ "$(readlink /proc/$p/ns/net 2>/dev/null)" = "$self" ] || continue; '
    "echo \"proc $p\"; tr '\\0' '\\n' < /proc/$p/cmdline 2>/dev/null | sed 's/^/arg /'; "
    "done"
)
"""The command lines of the dnsmasq processes in this network namespace only."""


class PathParams(SourceParams):
    path: AbsPath


class ClientParams(SourceParams):
    iface: Iface


class QueuesParams(SourceParams):
    rabbitmqctl: str = "rabbitmqctl"  # shell-quoted by the command builder
    vhost: str = "/"
    max_bytes: int = 2 * 1024 * 1024


register(
    Source(
        "dnsmasq_processes",
        "dnsmasq command lines in this network namespace",
        live=lambda _p: DNSMASQ_PROCESSES,
        sos=(EXTRAS + "cloudtales-dnsmasq-cmdlines",),
        parser="engine.checks.lease_time.parse_processes",
    )
)
register(
    Source(
        "dnsmasq_config",
        "A dnsmasq configuration file, bounded to 256 KiB",
        live=lambda p: f"head -c {MAX_DNSMASQ_CONF_BYTES} {shlex.quote(p.path)}",
        params=PathParams,
        sos=("etc/dnsmasq.conf", "etc/dnsmasq.d/*", "**/dnsmasq-nova.conf"),
        parser="engine.parsers.dnsmasq",
    )
)
register(
    Source(
        "dhcp_client_report",
        "DHCP client processes and addresses of an interface",
        live=lambda p: client_report_command(p.iface),
        params=ClientParams,
        sos=(EXTRAS + "cloudtales-dhcp-clients",),
        parser="engine.parsers.dhcp_client.parse_client_report",
    )
)
register(
    Source(
        "rabbitmq_queues",
        "rabbitmqctl list_queues (bounded)",
        live=lambda p: list_queues_command(p.rabbitmqctl, p.vhost, p.max_bytes),
        params=QueuesParams,
        sos=(EXTRAS + "cloudtales-list-queues",),
        sos_note="sos' rabbitmq plugin keeps `rabbitmqctl report`, another format",
        parser="engine.parsers.rabbitmqctl",
    )
)


class DnsLookupParams(SourceParams):
    qname: str = "www.openstack.org"
    server: str = ""  # "": the host's own resolv.conf
    wait: int = 2  # s dig waits for the one try


def dns_lookup_command(p: DnsLookupParams) -> str:
    """The host's nameserver lines, then one ``dig`` try (A record)."""
    at = f" @{shlex.quote(p.server)}" if p.server else ""
    return (
        "grep -E '^nameserver' /etc/resolv.conf 2>/dev/null; "
        f"dig +tries=1 +time={int(p.wait)}{at} {shlex.quote(p.qname)} A 2>&1"
    )


register(
    Source(
        "dns_lookup",
        "One DNS lookup with dig (A record), after the host's nameserver lines",
        live=dns_lookup_command,
        params=DnsLookupParams,
        offline=False,
        sos_note="a lookup happens now: no sosreport holds it",
        parser="engine.detectors.dns.parse_dig",
    )
)
