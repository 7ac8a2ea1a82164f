"""Parsers and detectors on real-shaped and malformed input."""

from __future__ import annotations

import json

import pytest

from engine.detectors.mtu import judge_path_mtu
from engine.detectors.vlan import classify_vlan_interface, detect_vlan_stacking
from engine.errors import CloudtalesError
from engine.parsers.iplink import parse_ip_link
from engine.parsers.nova_conf import parse_nova_conf
from engine.parsers.ping import parse_sweep

IP_LINK = json.dumps(
    [
        {
            "ifindex": 1,
            "ifname": "lo",
            "mtu": 65536,
            "operstate": "UNKNOWN",
            "flags": ["LOOPBACK", "UP"],
        },
        {
            "ifindex": 2,
            "ifname": "bond0",
            "mtu": 1500,
            "operstate": "UP",
            "flags": ["UP", "LOWER_UP"],
            "linkinfo": {"info_kind": "bond"},
        },
        {
            "ifindex": 5,
            "ifname": "vlan20",
            "link": "bond0",
            "mtu": 1500,
            "operstate": "UP",
            "flags": ["UP", "LOWER_UP"],
            "linkinfo": {"info_kind": "vlan", "info_data": {"protocol": "802.1Q", "id": 20}},
        },
        {
            "ifindex": 10,
            "ifname": "vlan100",
            "link": "vlan20",
            "master": "br100",
            "mtu": 1500,
            "operstate": "UP",
            "flags": ["UP"],
            "linkinfo": {
                "info_kind": "vlan",
                "info_data": {"protocol": "802.1Q", "id": 100},
                "info_slave_kind": "bridge",
            },
        },
    ]
)


def test_ip_link_vlan_on_vlan() -> None:
    links = parse_ip_link(IP_LINK)
    out = detect_vlan_stacking("compute", links)
    assert out.outcome == "vlan_on_vlan"
    assert out.facts["stacked_devices"] == ["vlan100@vlan20"]
    assert "VLAN 100 on vlan20 (itself VLAN 20), master br100" in out.evidence[0].text


def test_ip_link_healthy_and_empty() -> None:
    healthy = IP_LINK.replace('"link": "vlan20"', '"link": "bond0"')
    assert detect_vlan_stacking("c", parse_ip_link(healthy)).outcome == "vlan_on_base"
    assert detect_vlan_stacking("c", parse_ip_link("[]")).outcome == "no_vlan_devices"


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("not json", "output is not JSON"),
        ('{"ifname": "x"}', "expected a JSON list"),
        ('[{"mtu": 1500}]', "entry 0 has no ifname"),
    ],
)
def test_ip_link_malformed(text: str, msg: str) -> None:
    with pytest.raises(CloudtalesError, match=msg):
        parse_ip_link(text, "compute: ip -j -d link")


def test_nova_conf_options_and_errors() -> None:
    conf = parse_nova_conf(
        "[DEFAULT]\nvlan_interface=vlan20\n[database]\nconnection = mysql://x\n", "c:/n"
    )
    assert conf.get("DEFAULT", "vlan_interface") == "vlan20"
    assert conf.get("database", "connection") == "mysql://x"
    assert conf.get("database", "vlan_interface") is None
    assert conf.get("nosuch", "x") is None
    with pytest.raises(CloudtalesError, match=r"^c:/n:1: option before any \[section\] header"):
        parse_nova_conf("vlan_interface=vlan20\n", "c:/n")
    with pytest.raises(CloudtalesError, match=r"^c:/n:2: cannot parse line"):
        parse_nova_conf("[DEFAULT]\nthis is not an option\n", "c:/n")


@pytest.mark.parametrize(
    ("value", "devices", "key"),
    [
        ("vlan20", [], "is_vlan_device"),
        ("bond0.20", [], "is_vlan_device"),
        ("uplink20", ["uplink20@bond0"], "is_vlan_device"),
        ("bond0", ["vlan20@bond0"], "is_base_device"),
        (None, [], "unset"),
        ("", [], "unset"),
    ],
)
def test_vlan_interface_classification(value: str | None, devices: list[str], key: str) -> None:
    assert classify_vlan_interface("compute", "nova.conf", value, devices).outcome == key


def test_path_mtu_judgement() -> None:
    sweep = parse_sweep(
        [
            "1472 fail",
            "0 ok",
            "736 ok",
            "1104 ok",
            "1288 ok",
            "1380 ok",
            "1426 ok",
            "1449 ok",
            "1460 ok",
            "1466 ok",
            "1469 fail",
            "1467 ok",
            "1468 ok",
            "garbage",
        ]
    )
    out = judge_path_mtu("outside", "10.0.100.5", sweep, 1500)
    assert out.outcome == "reduced"
    assert out.facts["path_mtu"] == 1496
    assert out.facts["shortfall"] == 4
    assert "exactly one 802.1Q tag" in out.summary
    assert judge_path_mtu("o", "t", parse_sweep(["1472 ok"]), 1500).outcome == "full"
    assert (
        judge_path_mtu("o", "t", parse_sweep(["1472 fail", "0 fail"]), 1500).outcome
        == "unreachable"
    )
    assert judge_path_mtu("o", "t", parse_sweep([]), 1500).outcome == "unreachable"


def test_worst_of_keeps_the_most_telling_key_its_facts_and_everything_said() -> None:
    from engine.detectors.base import worst_of
    from engine.results import CheckResult, Evidence

    ok = CheckResult("bound", "a: bound", {"host": "a"}, (Evidence("a", "x"),))
    bad = CheckResult("client_gone", "b: gone", {"host": "b"}, (Evidence("b", "y"),))
    merged = worst_of([ok, bad], ("client_gone", "no_address", "bound"))
    assert (merged.outcome, merged.summary, dict(merged.facts)) == (
        "client_gone",
        "a: bound; b: gone",
        {"host": "b"},
    )
    assert [e.title for e in merged.evidence] == ["a", "b"]
