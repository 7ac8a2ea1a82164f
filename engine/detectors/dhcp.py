"""DHCP detectors: where a conversation breaks, whether the client survived, the lease.

Pure functions over decoded captures and parsed command output -> CheckResult.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.analyzers.correlate import Correlation, PacketTrace, correlate
from engine.analyzers.dhcp import DhcpConversation, conversations, delivery_lines
from engine.parsers.dhcp_client import ClientReport
from engine.parsers.dnsmasq_conf import DnsmasqConfig
from engine.parsers.pcap import Frame
from engine.results import CheckResult, Evidence, FactValue

DHCP_CAPTURE_OUTCOMES = (
    "replies_lost",
    "requests_lost",
    "no_server_reply",
    "replies_delivered",
    "no_dhcp",
)
DHCP_CLIENT_OUTCOMES = ("client_gone", "no_address", "bound")
LEASE_OUTCOMES = ("short", "long", "unknown")


@dataclass
class DhcpPicture:
    """The DHCP traffic seen at the client's and the server's capture points together."""

    client: str  # capture point label on the instance
    server: str  # capture point label on the DHCP server
    correlation: Correlation
    conversations: list[DhcpConversation]

    def _dhcp(self, op: int) -> list[PacketTrace]:
        return [t for t in self.correlation.packets if t.kind == "dhcp" and t.key[3] == op]

    @property
    def requests(self) -> list[PacketTrace]:
        return self._dhcp(1)

    @property
    def replies(self) -> list[PacketTrace]:
        return self._dhcp(2)

    def seen_at(self, traces: Sequence[PacketTrace], point: str) -> int:
        return sum(1 for t in traces if any(s.point == point for s in t.sightings))

    @property
    def lost_replies(self) -> list[PacketTrace]:
        return [t for t in self.replies if t.lost_after == self.server]

    @property
    def delivered_replies(self) -> list[PacketTrace]:
        return [t for t in self.replies if t.seen_everywhere]

    @property
    def lost_requests(self) -> list[PacketTrace]:
        return [t for t in self.requests if t.lost_after == self.client]

    def broadcast_requests(self) -> int:
        return sum(c.broadcast_requests(self.client) for c in self.conversations)

    def reply_kinds(self, point: str) -> dict[str, int]:
        kinds: dict[str, int] = {}
        for t in self.replies:
            if any(s.point == point for s in t.sightings):
                kinds[str(t.key[5])] = kinds.get(str(t.key[5]), 0) + 1
        return kinds


def dhcp_picture(points: Mapping[str, Sequence[Frame]], client: str, server: str) -> DhcpPicture:
    """Correlate the frames of both points; the client's is the forward direction."""
    frames = {p: list(f) for p, f in points.items()}
    return DhcpPicture(
        client,
        server,
        correlate(frames, [client, server]),
        conversations(frames),
    )


def settled(picture: DhcpPicture, min_lost: int, client_quiet: bool) -> bool:
    """Conclusive enough to stop capturing: a reply got through and none was lost, or
    enough replies were lost and the client has gone quiet (given up)."""
    lost, delivered = len(picture.lost_replies), len(picture.delivered_replies)
    if delivered and not lost:
        return True
    return lost >= min_lost and client_quiet


def _kinds(kinds: Mapping[str, int]) -> str:
    return ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items())) or "none"


def judge_dhcp_conversation(picture: DhcpPicture, min_lost: int, client_quiet: bool) -> CheckResult:
    c, s = picture.client, picture.server
    requests, replies = picture.requests, picture.replies
    lost, delivered = picture.lost_replies, picture.delivered_replies
    sent_kinds, got_kinds = picture.reply_kinds(s), picture.reply_kinds(c)
    broadcasts = picture.broadcast_requests()
    delivery = delivery_lines(picture.conversations, s, c)
    facts: dict[str, FactValue] = {
        "requests_sent": picture.seen_at(requests, c),
        "requests_received": picture.seen_at(requests, s),
        "server_replies": picture.seen_at(replies, s),
        "replies_received": picture.seen_at(replies, c),
        "replies_lost": len(lost),
        "replies_sent_by_kind": sent_kinds,
        "broadcast_requests": broadcasts,
        "client_gave_up": bool(lost) and client_quiet,
        "conversations": [conv.headline() for conv in picture.conversations],
        "delivery": list(delivery),
        **{k: v for k, v in picture.correlation.facts().items() if k != "lost_after_counts"},
    }
    timeline = [e.line() for conv in picture.conversations for e in conv.events]
    evidence = [Evidence(f"DHCP conversation seen at {c} and {s}", "\n".join(timeline) or "-")]
    if delivery:
        evidence.append(Evidence("replies per xid", "\n".join(delivery)))
    if picture.correlation.lines():
        evidence.append(
            Evidence("same packet at each point", "\n".join(picture.correlation.lines()))
        )
    if not requests and not replies:
        return CheckResult("no_dhcp", f"no DHCP traffic at {c} or {s}", facts, tuple(evidence))
    if len(lost) >= max(1, min_lost) or (lost and not delivered):
        gave_up = "; the client rebroadcast to 255.255.255.255" if broadcasts else ""
        gave_up += " and then went quiet (gave up)" if client_quiet else ""
        summary = (
            f"{s} sent {facts['server_replies']} DHCP replies ({_kinds(sent_kinds)}), "
            f"{c} received {facts['replies_received']}{gave_up}"
        )
        return CheckResult("replies_lost", summary, facts, tuple(evidence))
    if delivered:
        return CheckResult(
            "replies_delivered",
            f"{len(delivered)} DHCP replies ({_kinds(got_kinds)}) reached {c}",
            facts,
            tuple(evidence),
        )
    if facts["requests_received"] and not replies:
        return CheckResult(
            "no_server_reply",
            f"{s} received {facts['requests_received']} DHCP requests and answered none",
            facts,
            tuple(evidence),
        )
    if picture.lost_requests:
        return CheckResult(
            "requests_lost",
            f"{c} sent {facts['requests_sent']} DHCP requests, {s} received none",
            facts,
            tuple(evidence),
        )
    return CheckResult("no_dhcp", f"no DHCP exchange between {c} and {s}", facts, tuple(evidence))


def judge_dhcp_client(host: str, iface: str, report: ClientReport) -> CheckResult:
    """Is a DHCP client running for ``iface``, and does ``iface`` hold an IPv4 address?"""
    clients = report.clients_for(iface)
    facts: dict[str, FactValue] = {
        "client_running": bool(clients),
        "client_processes": [f"{p.pid} {p.args}" for p in clients],
        "addresses": list(report.addresses),
        "iface_present": report.iface_present,
    }
    procs = "\n".join(f"pid {p.pid}: {p.args}" for p in report.processes) or "none"
    evidence = (
        Evidence(f"DHCP client processes on {host} (this network namespace)", procs, host),
        Evidence(f"{iface} IPv4 addresses", ", ".join(report.addresses) or "none", host),
    )
    if not clients:
        summary = f"{host}: no DHCP client is running for {iface}" + (
            f"; {iface} has no IPv4 address" if not report.addresses else ""
        )
        return CheckResult("client_gone", summary, facts, evidence)
    if not report.addresses:
        return CheckResult(
            "no_address",
            f"{host}: {clients[0].name} runs (pid {clients[0].pid}) "
            f"but {iface} has no IPv4 address",
            facts,
            evidence,
        )
    return CheckResult(
        "bound",
        f"{host}: {clients[0].name} runs (pid {clients[0].pid}); {iface} has "
        f"{', '.join(report.addresses)}",
        facts,
        evidence,
    )


def judge_lease(host: str, config: DnsmasqConfig, short_seconds: int) -> CheckResult:
    """The lease the DHCP server grants, and how often that makes every instance renew."""
    lease = config.lease_seconds()
    facts: dict[str, FactValue] = {
        "lease_seconds": lease,
        "renew_seconds": config.renewal_seconds(),
        "ranges": [r.text for r in config.ranges],
        "sources": list(config.sources),
    }
    lines = [f"{r.source}: dhcp-range={r.text}" for r in config.ranges]
    lines += [f"{src}: {line}" for src, line in config.notes]
    evidence = (Evidence("dnsmasq DHCP settings", "\n".join(lines) or "none found", host),)
    if lease is None:
        return CheckResult("unknown", f"{host}: no dnsmasq DHCP range found", facts, evidence)
    renew = config.renewal_seconds()
    every = f"every instance renews every {renew} s" if renew else "no renewals (infinite)"
    text = "infinite" if lease < 0 else f"{lease} s"
    if 0 <= lease <= short_seconds:
        return CheckResult("short", f"{host}: dnsmasq leases last {text}: {every}", facts, evidence)
    return CheckResult("long", f"{host}: dnsmasq leases last {text}: {every}", facts, evidence)
