"""Overlay MTU: a VXLAN tenant network whose instances send more than the underlay carries.

Pure functions over parsed data: the VXLAN devices of ``ip -j -d link`` (VNI, port,
underlay device and both MTUs), an instance interface's MTU against the overlay's, the
encapsulated frames of an underlay capture (outer minus inner length is the overhead,
and which probe sizes never reached the underlay), and whether DHCP advertises the MTU
(option 26 in dnsmasq's command line or configuration).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.errors import CloudtalesError
from engine.parsers.frame import Frame, decode_frame
from engine.parsers.iplink import LinkInfo, parse_ip_link
from engine.results import CheckResult, Evidence, FactValue

VXLAN_PORT = 4789
VXLAN_OVERHEAD = 50  # outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8 (IPv4 underlay)
ICMP_IP_OVERHEAD = 28

OVERLAY_OUTCOMES = ("vxlan", "no_overlay")
INSTANCE_MTU_OUTCOMES = ("exceeds_overlay", "fits_overlay")
UNDERLAY_OUTCOMES = ("oversize_lost", "all_encapsulated", "no_vxlan_frames")
MTU_OPTION_OUTCOMES = ("not_advertised", "advertised", "no_dnsmasq")


@dataclass(frozen=True)
class VxlanDevice:
    name: str
    vni: int
    port: int
    underlay: str | None  # the device it sends on ("dev" of ip link add)
    mtu: int
    underlay_mtu: int | None
    master: str | None

    @property
    def overlay_mtu(self) -> int | None:
        """The largest inner packet the underlay carries in one frame."""
        return None if self.underlay_mtu is None else self.underlay_mtu - VXLAN_OVERHEAD


def parse_vxlan_devices(text: str, source: str) -> list[VxlanDevice]:
    links = {link.ifname: link for link in parse_ip_link(text, source)}
    try:
        raw: list[dict[str, Any]] = json.loads(text)
    except json.JSONDecodeError:  # parse_ip_link already refused it
        return []
    found = []
    for obj in raw:
        info = obj.get("linkinfo") or {}
        if info.get("info_kind") != "vxlan":
            continue
        data = info.get("info_data") or {}
        under = data.get("link")
        link = links[str(obj["ifname"])]
        under_link: LinkInfo | None = links.get(str(under)) if under else None
        found.append(
            VxlanDevice(
                name=link.ifname,
                vni=int(data.get("id", 0)),
                port=int(data.get("port", VXLAN_PORT)),
                underlay=str(under) if under else None,
                mtu=link.mtu,
                underlay_mtu=under_link.mtu if under_link else None,
                master=link.master,
            )
        )
    return found


def judge_overlay_links(host: str, devices: Sequence[VxlanDevice], text: str) -> CheckResult:
    evidence = tuple(
        Evidence(
            f"{host}: VXLAN device {d.name}",
            f"{d.name}: vni {d.vni} dstport {d.port} dev {d.underlay or '-'} mtu {d.mtu} "
            f"master {d.master or '-'}; underlay {d.underlay or '-'} mtu {d.underlay_mtu}",
            host,
        )
        for d in devices
    )
    if not devices:
        return CheckResult(
            "no_overlay",
            f"{host} has no VXLAN device: the tenant network is not an overlay here",
            {"vxlan_device": None, "overlay_mtu": None},
            (Evidence(f"{host}: ip -j -d link", _names(text), host),),
        )
    d = next((x for x in devices if x.master), devices[0])
    facts: dict[str, FactValue] = {
        "vxlan_device": d.name,
        "vni": d.vni,
        "dstport": d.port,
        "underlay": d.underlay,
        "underlay_mtu": d.underlay_mtu,
        "vxlan_mtu": d.mtu,
        "overlay_mtu": d.overlay_mtu if d.overlay_mtu is not None else d.mtu,
        "overhead": VXLAN_OVERHEAD,
    }
    return CheckResult(
        "vxlan",
        f"{host}: {d.name} (VNI {d.vni}, UDP {d.port}) on {d.underlay or '?'} "
        f"(MTU {d.underlay_mtu}): the overlay carries {facts['overlay_mtu']}-byte packets",
        facts,
        evidence,
    )


def _names(text: str) -> str:
    try:
        return ", ".join(str(o.get("ifname")) for o in json.loads(text))
    except (json.JSONDecodeError, AttributeError):
        return text[:200]


def judge_instance_mtu(host: str, link: LinkInfo, overlay_mtu: int) -> CheckResult:
    facts: dict[str, FactValue] = {
        "iface": link.ifname,
        "instance_mtu": link.mtu,
        "overlay_mtu": overlay_mtu,
        "excess": max(0, link.mtu - overlay_mtu),
        "tx_dropped": link.stats.get("tx_dropped"),
    }
    line = f"{host} {link.ifname}: mtu {link.mtu}, tx dropped {link.stats.get('tx_dropped', '?')}"
    evidence = (Evidence(f"{host}: {link.ifname}", line, host),)
    if link.mtu > overlay_mtu:
        return CheckResult(
            "exceeds_overlay",
            f"{host} {link.ifname} sends up to {link.mtu} bytes, {link.mtu - overlay_mtu} more "
            f"than the overlay's {overlay_mtu}",
            facts,
            evidence,
        )
    return CheckResult(
        "fits_overlay",
        f"{host} {link.ifname} MTU {link.mtu} fits the overlay's {overlay_mtu}",
        facts,
        evidence,
    )


@dataclass(frozen=True)
class Encapsulated:
    """One VXLAN frame of the underlay capture."""

    outer_len: int  # outer IP total length
    inner: Frame

    @property
    def inner_len(self) -> int:
        return self.inner.ip_total_len or 0


def vxlan_inner(frame: Frame, port: int = VXLAN_PORT) -> Encapsulated | None:
    """The inner frame of a VXLAN-over-IPv4 frame (UDP to ``port``), else None."""
    if frame.ip_proto != 17 or frame.ip_total_len is None:
        return None
    off = frame.l3_offset
    data = frame.data
    if len(data) < off + 20:
        return None
    ihl = (data[off] & 15) * 4
    udp = off + ihl
    if len(data) < udp + 16:
        return None
    (dport,) = struct.unpack_from("!H", data, udp + 2)
    if dport != port:
        return None
    inner = decode_frame(data[udp + 16 :], frame.ts, frame.wire_len - (udp + 16))
    if inner is None or inner.ip_total_len is None:
        return None
    return Encapsulated(frame.ip_total_len, inner)


def judge_underlay(
    host: str,
    iface: str,
    frames: Iterable[Frame],
    sent: Sequence[tuple[int, bool]],
    source_ip: str,
) -> CheckResult:
    """``sent``: (ping payload size, answered) from the instance; ``frames``: the
    underlay capture. A size is encapsulated when an echo request of its IP length from
    ``source_ip`` crossed the underlay inside VXLAN."""
    encaps = [e for f in frames if (e := vxlan_inner(f)) is not None]
    requests = [e for e in encaps if e.inner.ip_src == source_ip and e.inner.icmp_type == 8]
    seen = {e.inner_len: e for e in requests}
    rows = []
    lost: list[int] = []
    for size, ok in sent:
        ip_len = size + ICMP_IP_OVERHEAD
        e = seen.get(ip_len)
        where = (
            f"inner {e.inner_len} B in outer {e.outer_len} B (+{e.outer_len - e.inner_len})"
            if e
            else "never on the underlay"
        )
        rows.append(f"ping -M do -s {size:<5} ({ip_len} B): {'reply' if ok else 'LOST'}; {where}")
        if e is None and not ok:
            lost.append(ip_len)
    overheads = sorted({e.outer_len - e.inner_len for e in encaps})
    facts: dict[str, FactValue] = {
        "vxlan_frames": len(encaps),
        "overhead": overheads[0] if overheads else None,
        "largest_inner": max((e.inner_len for e in requests), default=None),
        "largest_outer": max((e.outer_len for e in encaps), default=None),
        "lost_sizes": lost,
    }
    evidence = (Evidence(f"VXLAN on the underlay ({host}:{iface})", "\n".join(rows), host),)
    if not encaps:
        return CheckResult(
            "no_vxlan_frames",
            f"no VXLAN frame crossed {host}:{iface} while the instance pinged",
            facts,
            evidence,
        )
    if lost and requests:
        return CheckResult(
            "oversize_lost",
            f"{host}:{iface} carried the instance's packets up to {facts['largest_inner']} B "
            f"inside {facts['largest_outer']} B (VXLAN adds {facts['overhead']} B); "
            f"{', '.join(map(str, lost))}-byte packets never reached the underlay",
            facts,
            evidence,
        )
    return CheckResult(
        "all_encapsulated",
        f"every probe the instance sent crossed {host}:{iface} in VXLAN "
        f"(+{facts['overhead']} B each)",
        facts,
        evidence,
    )


def mtu_options(
    argvs: Iterable[Sequence[str]], conf_lines: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """(where, value) of every DHCP option 26 (interface-mtu) in dnsmasq command lines
    and configuration lines ((where, line) pairs)."""
    found: list[tuple[str, str]] = []
    for argv in argvs:
        for arg in argv[1:]:
            key, _, value = arg.lstrip("-").partition("=")
            if key in ("dhcp-option", "dhcp-option-force") and _is_mtu(value):
                found.append(("command line", arg))
    for where, line in conf_lines:
        key, _, value = line.strip().partition("=")
        if key.strip() in ("dhcp-option", "dhcp-option-force") and _is_mtu(value):
            found.append((where, line.strip()))
    return found


def _is_mtu(value: str) -> bool:
    fields = [f.strip().lower() for f in value.split(",")]
    fields = [f for f in fields if not f.startswith(("tag:", "set:", "encap:", "vendor:"))]
    return bool(fields) and fields[0] in ("26", "option:mtu", "option:26")


def judge_mtu_option(
    host: str, processes: int, options: Sequence[tuple[str, str]], files: Sequence[str]
) -> CheckResult:
    facts: dict[str, FactValue] = {
        "dnsmasq_processes": processes,
        "advertised_mtu": _value(options[-1][1]) if options else None,
        "config_files": list(files),
        "options": [f"{w}: {line}" for w, line in options],
    }
    read = ", ".join(files) or "no config file"
    evidence = (
        Evidence(
            f"{host}: dnsmasq option 26",
            "\n".join(f"{w}: {line}" for w, line in options) or f"no option 26 in argv or {read}",
            host,
        ),
    )
    if processes == 0:
        return CheckResult("no_dnsmasq", f"no dnsmasq runs on {host}", facts, evidence)
    if not options:
        return CheckResult(
            "not_advertised",
            f"dnsmasq on {host} does not advertise the MTU (no DHCP option 26 on its command "
            f"line or in {read})",
            facts,
            evidence,
        )
    return CheckResult(
        "advertised",
        f"dnsmasq on {host} advertises MTU {facts['advertised_mtu']} ({options[-1][0]})",
        facts,
        evidence,
    )


def _value(line: str) -> str:
    return line.rsplit(",", 1)[-1].strip()


def parse_ping_sizes(text: str, source: str) -> list[tuple[int, bool]]:
    """``SIZE ok|fail`` lines (the ``ping_sizes`` source)."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1] in ("ok", "fail"):
            out.append((int(parts[0]), parts[1] == "ok"))
    if not out:
        raise CloudtalesError(f"{source}: no `SIZE ok|fail` line in the output")
    return out
