"""Host vars of an offline host, derived from its sosreport (defaults otherwise).

A path var holds the path *on the host* (``/etc/nova/nova.conf``); the provider maps it
into the report, where sos copied the file to the same path. What is derived:

- ``nova_conf``: ``/etc/nova/nova.conf`` when the report holds it;
- ``instances_path``: nova.conf's ``instances_path`` (``$state_path`` expanded), else
  nova's default;
- ``nova_compute_log`` / ``nova_api_log``: the log under ``/var/log/nova``, or where a
  lab keeps it (``/run/cloudtales/labs/...``, copied by sos_extras);
- ``uplink`` and ``bonding_status``: the bond whose status file the report holds;
- ``dhcp_iface``: the interface a DHCP client ran on (``cloudtales-dhcp-clients``), or
  the one dnsmasq serves (its ``--interface``, or the link of its ``--listen-address``);
- ``ip``: the host's first global IPv4 address (``ip -o addr``), management links last;
- ``libvirt_uri``: ``test://NODE.xml`` when the report holds a lab's libvirt test-driver
  node file (read locally by libvirt's test driver: no connection).
"""

from __future__ import annotations

import re
from typing import Any

from engine.detectors.imagecache import expand_option
from engine.parsers.nova_conf import parse_nova_conf
from engine.sources.sos_tree import SosReport

NOVA_CONF = "/etc/nova/nova.conf"
DEFAULT_INSTANCES = "/var/lib/nova/instances"
LAB_ROOT = "run/cloudtales/labs"
EXTRAS = "sos_commands/sos_extras/cloudtales/"
_ADDR = re.compile(r"^\d+:\s+(\S+)\s+inet\s+(\d+\.\d+\.\d+\.\d+)/\d+.*scope global", re.M)


def _abs(report: SosReport, rel: str) -> str:
    return "/" + rel.lstrip("/")


def _log(report: SosReport, name: str) -> str | None:
    if report.path(f"var/log/nova/{name}"):
        return f"/var/log/nova/{name}"
    if report.path(f"var/log/containers/nova/{name}"):
        return f"/var/log/containers/nova/{name}"
    found = report.glob(f"{LAB_ROOT}/**/var/log/nova/{name}")
    return _abs(report, report.shown(found[0])) if found else None


def _instances_path(report: SosReport) -> str:
    conf = report.path(NOVA_CONF)
    if conf is None:
        return DEFAULT_INSTANCES
    parsed = parse_nova_conf(report.head(conf, 1 << 20), f"{report.name}:{NOVA_CONF}")
    raw = parsed.get("DEFAULT", "instances_path") or "$state_path/instances"
    value = expand_option(raw, parsed)
    return value if value.startswith("/") and "$" not in value else DEFAULT_INSTANCES


def _bond(report: SosReport) -> tuple[str, str] | None:
    for pattern in ("proc/net/bonding/*", f"{LAB_ROOT}/*/*/proc-net-bonding/*"):
        found = report.glob(pattern)
        if found:
            return found[0].name, _abs(report, report.shown(found[0]))
    return None


def _dhcp_iface(report: SosReport) -> str | None:
    f = report.path(EXTRAS + "cloudtales-dhcp-clients")
    if f is None:
        return None
    for line in report.head(f, 65536).splitlines():
        words = line.split()
        if len(words) > 2 and words[0] == "proc" and "dhclient" in words[2]:
            return words[-1]
    return None


def _dnsmasq_iface(report: SosReport) -> str | None:
    """The interface dnsmasq serves: its ``--interface``, else the link holding its
    ``--listen-address`` (``cloudtales-dnsmasq-cmdlines``, then ``ip -o addr``)."""
    f = report.path(EXTRAS + "cloudtales-dnsmasq-cmdlines")
    if f is None:
        return None
    args = [line[4:] for line in report.head(f, 65536).splitlines() if line.startswith("arg ")]
    for a in args:
        if a.startswith("--interface="):
            return a.split("=", 1)[1]
    listen = [a.split("=", 1)[1] for a in args if a.startswith("--listen-address=")]
    addrs = report.path("sos_commands/networking/ip_-o_addr")
    if not listen or addrs is None:
        return None
    for dev, ip in _ADDR.findall(report.head(addrs, 1 << 20)):
        if ip in listen:
            return str(dev)
    return None


def _ip(report: SosReport) -> str | None:
    f = report.path("sos_commands/networking/ip_-o_addr")
    if f is None:
        return None
    found = [(dev, ip) for dev, ip in _ADDR.findall(report.head(f, 1 << 20)) if dev != "lo"]
    found.sort(key=lambda d: d[0].startswith("mgmt"))
    return found[0][1] if found else None


def _node_xml(report: SosReport) -> str | None:
    found = report.glob(f"{LAB_ROOT}/**/node.xml")
    mine = [p for p in found if report.name in p.parts] or found
    return f"test://{mine[0].resolve()}" if len(mine) == 1 else None


def host_vars(report: SosReport) -> dict[str, Any]:
    out: dict[str, Any] = {"instances_path": _instances_path(report)}
    if report.path(NOVA_CONF):
        out["nova_conf"] = NOVA_CONF
    for var, name in (("nova_compute_log", "nova-compute.log"), ("nova_api_log", "nova-api.log")):
        if (path := _log(report, name)) is not None:
            out[var] = path
    if (bond := _bond(report)) is not None:
        out["uplink"], out["bonding_status"] = bond
    for var, value in (
        ("dhcp_iface", _dhcp_iface(report) or _dnsmasq_iface(report)),
        ("ip", _ip(report)),
        ("libvirt_uri", _node_xml(report)),
    ):
        if value:
            out[var] = value
    return out
