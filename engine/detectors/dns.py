"""DNS through the tenant network's dnsmasq: does it answer, and can it reach its upstream?

Pure functions over parsed data: ``dig`` output (status, answers, extended error, or
why no server answered), dnsmasq's ``--server`` upstreams and query log, the route to
each upstream, and DNS replies seen on a capture (rcode from the header).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.parsers.frame import Frame
from engine.results import CheckResult, Evidence, FactValue

LOOKUP_OUTCOMES = ("answered", "failed", "no_server")
UPSTREAM_OUTCOMES = ("upstream_unreachable", "upstream_answers", "no_upstream", "no_dnsmasq")
CAPTURE_OUTCOMES = ("error_replies", "answered", "no_replies", "no_queries")
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

_STATUS = re.compile(r"->>HEADER<<- opcode: \w+, status: (\w+)")
_EDE = re.compile(r"; EDE: (.+)")
_SERVER = re.compile(r";; SERVER: ([^\s#]+)")
_NAMESERVER = re.compile(r"^nameserver\s+(\S+)", re.M)


@dataclass(frozen=True)
class Dig:
    status: str | None  # NOERROR, REFUSED, SERVFAIL...; None when nothing answered
    why: str  # "timed out", "connection refused", "network unreachable", "" when answered
    answers: tuple[str, ...]
    ede: str  # extended DNS error text, "" if none
    server: str  # who answered (or was asked)
    resolvers: tuple[str, ...]  # nameserver lines printed before the query, if any

    @property
    def resolved(self) -> bool:
        return self.status == "NOERROR" and bool(self.answers)


def parse_dig(text: str) -> Dig:
    status = m.group(1) if (m := _STATUS.search(text)) else None
    low = text.lower()
    why = ""
    if status is None:
        for said in ("connection refused", "network unreachable", "timed out", "host unreachable"):
            if said in low:
                why = said
                break
        else:
            why = "no answer"
    answers: list[str] = []
    in_answer = False
    for line in text.splitlines():
        if line.startswith(";; ANSWER SECTION"):
            in_answer = True
            continue
        if in_answer:
            if not line.strip() or line.startswith(";;"):
                in_answer = False
                continue
            answers.append(" ".join(line.split()))
    server = m.group(1) if (m := _SERVER.search(text)) else ""
    ede = m.group(1).strip() if (m := _EDE.search(text)) else ""
    return Dig(status, why, tuple(answers), ede, server, tuple(_NAMESERVER.findall(text)))


def judge_lookup(host: str, name: str, server: str, dig: Dig, text: str) -> CheckResult:
    facts: dict[str, FactValue] = {
        "name": name,
        "server": server or (dig.resolvers[0] if dig.resolvers else None),
        "status": dig.status,
        "why": dig.why or None,
        "ede": dig.ede or None,
        "answers": list(dig.answers),
    }
    evidence = (Evidence(f"{host}: dig {name}", _trim(text), host),)
    asked = facts["server"] or "its resolver"
    if dig.resolved:
        return CheckResult(
            "answered", f"{host} resolves {name} via {asked}: {dig.answers[0]}", facts, evidence
        )
    if dig.status is None and dig.why in ("connection refused", "network unreachable"):
        return CheckResult(
            "no_server",
            f"{host}: no DNS server at {asked} ({dig.why})",
            facts,
            evidence,
        )
    said = dig.status or dig.why
    ede = f", {dig.ede}" if dig.ede else ""
    return CheckResult(
        "failed", f"{host} cannot resolve {name}: {asked} says {said}{ede}", facts, evidence
    )


def _trim(text: str, limit: int = 40) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return "\n".join(lines[:limit])


def upstreams(argv: Sequence[str]) -> list[str]:
    """``--server=IP[#PORT]`` values (plain forwarders, not ``/domain/`` ones)."""
    found = []
    for arg in argv[1:]:
        key, _, value = arg.lstrip("-").partition("=")
        if key in ("server", "S") and value and not value.startswith("/"):
            found.append(value.split("#", 1)[0].split("@", 1)[0])
    return found


def log_path(argv: Sequence[str]) -> str | None:
    for arg in argv[1:]:
        key, _, value = arg.lstrip("-").partition("=")
        if key == "log-facility" and value.startswith("/"):
            return value
    return None


def query_log_lines(text: str, limit: int = 12) -> list[str]:
    """The query log's last forwarding lines: query, forwarded, reply, config error."""
    keep = ("query[", "forwarded ", "reply ", "config error", "failed to send", "using nameserver")
    lines = [ln for ln in text.splitlines() if any(k in ln for k in keep)]
    return lines[-limit:]


@dataclass(frozen=True)
class UpstreamProbe:
    server: str
    route: str  # `ip route get` output, or its error
    routed: bool
    dig: Dig


def judge_upstreams(
    host: str, dnsmasq: int, servers: Sequence[str], probes: Sequence[UpstreamProbe], log: list[str]
) -> CheckResult:
    rows = [
        f"{p.server}: route {'ok' if p.routed else 'NONE'} ({p.route.strip()}); "
        f"direct query: {p.dig.status or p.dig.why}"
        for p in probes
    ]
    facts: dict[str, FactValue] = {
        "upstreams": list(servers),
        "unreachable": [p.server for p in probes if not p.routed or p.dig.status is None],
        "routes": {p.server: p.route.strip() for p in probes},
        "log": log,
    }
    evidence = [Evidence(f"{host}: dnsmasq upstreams", "\n".join(rows) or "none", host)]
    if log:
        evidence.append(Evidence(f"{host}: dnsmasq query log", "\n".join(log), host))
    if dnsmasq == 0:
        return CheckResult("no_dnsmasq", f"no dnsmasq runs on {host}", facts, tuple(evidence))
    if not servers:
        return CheckResult(
            "no_upstream",
            f"dnsmasq on {host} has no --server upstream (it answers from its own data only)",
            facts,
            tuple(evidence),
        )
    bad = facts["unreachable"]
    assert isinstance(bad, list)
    if bad and len(bad) == len(probes):
        why = "; ".join(
            f"{p.server}: {'no route' if not p.routed else p.dig.why or 'no answer'}"
            for p in probes
        )
        return CheckResult(
            "upstream_unreachable",
            f"dnsmasq on {host} forwards to {', '.join(servers)}, which {host} cannot reach "
            f"({why})",
            facts,
            tuple(evidence),
        )
    return CheckResult(
        "upstream_answers",
        f"dnsmasq on {host} forwards to {', '.join(servers)}; "
        f"{', '.join(p.server for p in probes if p.server not in bad)} answers from {host}",
        facts,
        tuple(evidence),
    )


@dataclass(frozen=True)
class DnsPacket:
    src: str
    dst: str
    is_reply: bool
    rcode: str
    qname: str
    ident: int = 0


def dns_packet(frame: Frame) -> DnsPacket | None:
    """A DNS message over UDP/IPv4 port 53 (either side), with its rcode and first name."""
    if frame.ip_proto != 17 or frame.ip_src is None or frame.ip_dst is None:
        return None
    data, off = frame.data, frame.l3_offset
    if len(data) < off + 20:
        return None
    udp = off + (data[off] & 15) * 4
    if len(data) < udp + 8 + 12:
        return None
    sport, dport = struct.unpack_from("!HH", data, udp)
    if 53 not in (sport, dport):
        return None
    dns = udp + 8
    ident, flags = struct.unpack_from("!HH", data, dns)
    return DnsPacket(
        frame.ip_src,
        frame.ip_dst,
        bool(flags & 0x8000),
        RCODES.get(flags & 15, str(flags & 15)),
        _qname(data, dns + 12),
        ident,
    )


def _qname(data: bytes, off: int) -> str:
    labels: list[str] = []
    while off < len(data) and data[off] and len(labels) < 20:
        n = data[off]
        if n & 0xC0:
            break
        labels.append(data[off + 1 : off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    return ".".join(labels)


def judge_capture(point: str, frames: Iterable[Frame], client: str, server: str) -> CheckResult:
    seen: set[tuple[str, str, int, bool]] = set()
    pkts = []
    for f in frames:  # on "any" a bridged packet shows once per port: keep the first
        p = dns_packet(f)
        if p is not None and (key := (p.src, p.dst, p.ident, p.is_reply)) not in seen:
            seen.add(key)
            pkts.append(p)
    queries = [p for p in pkts if not p.is_reply and p.src == client]
    replies = [p for p in pkts if p.is_reply and p.dst == client]
    upstream = [p for p in pkts if not p.is_reply and p.src == server]
    rows = [
        f"{p.src} > {p.dst} {'reply ' + p.rcode if p.is_reply else 'query'} {p.qname}"
        for p in pkts[:30]
    ]
    rcodes = sorted({p.rcode for p in replies})
    facts: dict[str, FactValue] = {
        "queries": len(queries),
        "replies": len(replies),
        "rcodes": rcodes,
        "forwarded_seen": len(upstream),
    }
    evidence = (Evidence(f"DNS on {point}", "\n".join(rows) or "no DNS packet"),)
    if not queries:
        return CheckResult("no_queries", f"no DNS query from {client} on {point}", facts, evidence)
    asked = f"{len(queries)} {'query' if len(queries) == 1 else 'queries'} from {client}"
    if not replies:
        return CheckResult(
            "no_replies",
            f"{asked} on {point}, no reply",
            facts,
            evidence,
        )
    if any(r != "NOERROR" for r in rcodes):
        return CheckResult(
            "error_replies",
            f"{asked} on {point}, answered {'/'.join(rcodes)} by {server}",
            facts,
            evidence,
        )
    return CheckResult(
        "answered", f"{client}'s queries answered NOERROR on {point}", facts, evidence
    )
