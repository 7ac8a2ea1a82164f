"""Security-group parsers and detectors on real outputs, recorded from the security-group lab
(tests/rehearsals/security-group-*/sources.yaml): iptables-save -c of neutron's
iptables_hybrid chains, conntrack -L, the connect probe and tcpdump's SYN lines."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.detectors.secgroup import (
    count_syns,
    drop_packets,
    judge_connect,
    judge_port_rules,
    judge_syns,
    parse_connect,
    port_chain,
)
from engine.errors import CloudtalesError
from engine.parsers.iptables_save import parse_conntrack, parse_iptables_save

REHEARSALS = Path(__file__).parents[1] / "rehearsals"
TAP = "tap3f2a9c1e-7b"
CHAIN = "neutron-openvswi-i3f2a9c1e-7"


def answers(rehearsal: str, source: str) -> list[str]:
    doc = yaml.safe_load((REHEARSALS / rehearsal / "sources.yaml").read_text())
    entries = doc["answers"] if isinstance(doc, dict) else doc
    return [str(e.get("stdout", "")) for e in entries if e.get("source") == source]


def test_the_ports_ingress_chain_is_found_by_its_physdev_out_jumps() -> None:
    rules = parse_iptables_save(answers("security-group-faulty", "iptables_rules")[0])
    assert port_chain(rules, TAP) == CHAIN
    assert port_chain(rules, "tap-other") is None
    fallback = [r for r in rules if r.chain == "neutron-openvswi-sg-fallback"]
    assert [r.target for r in fallback] == ["DROP"]
    assert fallback[0].option("--comment") == "Default drop rule for unmatched traffic."


def test_drop_counters_climb_across_the_probe_in_the_recording() -> None:
    before, *_, after = answers("security-group-faulty", "iptables_rules")
    counts = [drop_packets(parse_iptables_save(text), CHAIN) for text in (before, after)]
    assert counts[0] is not None
    assert counts[1] is not None
    assert counts[1] > counts[0]


def test_faulty_chain_does_not_allow_22_and_conntrack_holds_the_unreplied_syn() -> None:
    rules = parse_iptables_save(answers("security-group-faulty", "iptables_rules")[-1])
    flows = parse_conntrack(answers("security-group-faulty", "conntrack_table")[0])
    result = judge_port_rules("compute", TAP, 22, "10.0.0.5", rules, flows)
    assert result.outcome == "port_not_allowed"
    assert result.facts["port_chain"] == CHAIN
    assert result.facts["allowing"] == []
    assert result.facts["conntrack_states"] == ["SYN_SENT UNREPLIED"]
    assert "has no rule allowing tcp/22" in result.summary


def test_a_rule_for_22_or_for_all_tcp_allows_the_port() -> None:
    base = "*filter\n[0:0] -A neutron-openvswi-FORWARD -m physdev --physdev-out tapX -j ichain\n"
    for rule in ("-p tcp -m tcp --dport 22 -j RETURN", "-p tcp -j RETURN",
                 "-p tcp -m multiport --dports 80,20:30 -j RETURN"):  # fmt: skip
        text = base + f"[0:0] -A ichain {rule}\n[4:240] -A ichain -j DROP\n"
        result = judge_port_rules("c", "tapX", 22, "10.0.0.5", parse_iptables_save(text), [])
        assert result.outcome == "port_allowed", rule
    denied = (
        base + "[0:0] -A ichain -p tcp -m tcp --dport 80 -j RETURN\n[4:240] -A ichain -j DROP\n"
    )
    result = judge_port_rules("c", "tapX", 22, "10.0.0.5", parse_iptables_save(denied), [])
    assert result.outcome == "port_not_allowed"
    assert result.facts["drops"] == 4


def test_no_hybrid_chain_is_its_own_outcome() -> None:
    result = judge_port_rules("c", "tapX", 22, "10.0.0.5", parse_iptables_save("*filter\n"), [])
    assert result.outcome == "no_port_chain"


def test_connect_probe_outcomes_from_real_answers() -> None:
    faulty = answers("security-group-faulty", "tcp_connect_probe")[0]
    assert (
        judge_connect("outside", "10.0.0.5", 22, *parse_connect(faulty, "x")).outcome == "filtered"
    )
    healthy = answers("security-group-healthy", "tcp_connect_probe")[0]
    assert judge_connect("outside", "10.0.0.5", 22, *parse_connect(healthy, "x")).outcome == "open"
    refused = "connect_exit 1\nbash: connect: Connection refused\n"
    assert judge_connect("o", "t", 22, *parse_connect(refused, "x")).outcome == "refused"
    with pytest.raises(CloudtalesError, match="no exit status"):
        parse_connect("", "outside: connect probe")


def test_syns_on_the_bridge_none_inside() -> None:
    captures = answers("security-group-faulty", "syn_capture")
    seen = [count_syns(text) for text in captures]
    bridge = next(s for s in seen if s)
    assert all("10.0.0.5.22: Flags [S]" in line for line in bridge)
    result = judge_syns("compute qbr", bridge, "instance eth0", [], 5, 8)
    assert result.outcome == "dropped_before_instance"
    assert result.facts["drops_delta"] == 3
    assert judge_syns("b", [], "i", [], None, None).outcome == "no_syn_at_bridge"
    assert judge_syns("b", bridge, "i", bridge, 1, 1).outcome == "delivered"
