"""The overlay-mtu and dns detectors on real outputs (taken from the labs on this kernel)."""

from __future__ import annotations

import json
import struct

from engine.detectors.dns import judge_lookup, parse_dig, upstreams
from engine.detectors.overlay import (
    judge_mtu_option,
    mtu_options,
    parse_ping_sizes,
    parse_vxlan_devices,
    vxlan_inner,
)
from engine.parsers.frame import decode_frame

REFUSED = """nameserver 10.0.100.1

; <<>> DiG 9.18.49-1~deb12u3-Debian <<>> +tries=1 +time=2 www.openstack.org A
;; global options: +cmd
;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: REFUSED, id: 45345
;; flags: qr rd ra; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 1

;; OPT PSEUDOSECTION:
; EDNS: version: 0, flags:; udp: 1232
; EDE: 23 (Network Error)
;; QUESTION SECTION:
;www.openstack.org.\t\tIN\tA

;; SERVER: 10.0.100.1#53(10.0.100.1) (UDP)
"""

NO_ROUTE = """;; UDP setup with 10.0.0.1#53(10.0.0.1) for x.org failed: network unreachable.
;; no servers could be reached
"""


def test_dig_refused_with_extended_error_is_a_failed_lookup() -> None:
    dig = parse_dig(REFUSED)
    assert (dig.status, dig.ede, dig.server, dig.resolvers) == (
        "REFUSED",
        "23 (Network Error)",
        "10.0.100.1",
        ("10.0.100.1",),
    )
    out = judge_lookup("instance", "www.openstack.org", "", dig, REFUSED)
    assert out.outcome == "failed"
    assert out.summary == (
        "instance cannot resolve www.openstack.org: 10.0.100.1 says REFUSED, 23 (Network Error)"
    )


def test_no_route_to_the_server_is_no_server_not_a_dns_failure() -> None:
    out = judge_lookup("instance", "x.org", "10.0.0.1", parse_dig(NO_ROUTE), NO_ROUTE)
    assert out.outcome == "no_server"
    assert out.facts["why"] == "network unreachable"


def test_upstreams_are_plain_server_options_only() -> None:
    argv = ["dnsmasq", "--server=198.51.100.53", "--server=/corp/10.1.1.1", "--server=9.9.9.9#53"]
    assert upstreams(argv) == ["198.51.100.53", "9.9.9.9"]


def test_vxlan_device_and_the_overlay_mtu_from_ip_link() -> None:
    links = [
        {"ifindex": 2, "ifname": "bond0", "mtu": 1500, "flags": ["UP"], "operstate": "UP"},
        {
            "ifindex": 5,
            "ifname": "vxlan-5",
            "mtu": 1450,
            "flags": ["UP"],
            "operstate": "UNKNOWN",
            "master": "brq-tenant",
            "linkinfo": {
                "info_kind": "vxlan",
                "info_data": {"id": 5, "link": "bond0", "port": 4789, "df": "unset"},
            },
        },
    ]
    (dev,) = parse_vxlan_devices(json.dumps(links), "test")
    assert (dev.vni, dev.port, dev.underlay, dev.underlay_mtu, dev.overlay_mtu) == (
        5,
        4789,
        "bond0",
        1500,
        1450,
    )


def _vxlan_frame(inner_ip_len: int) -> bytes:
    inner_ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, inner_ip_len, 1, 0, 64, 1, 0,
                           bytes([10, 0, 100, 5]), bytes([203, 0, 113, 10]))  # fmt: skip
    inner = b"\x02" * 12 + b"\x08\x00" + inner_ip + b"\x08\x00" + b"\x00" * 6
    outer_len = 20 + 8 + 8 + len(b"\x02" * 12) + 2 + inner_ip_len
    udp = struct.pack("!HHHH", 40000, 4789, outer_len - 20, 0) + b"\x08\x00\x00\x00\x00\x00\x05\x00"
    outer_ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, outer_len, 2, 0, 64, 17, 0,
                           bytes([192, 168, 50, 2]), bytes([192, 168, 50, 1]))  # fmt: skip
    return b"\x04" * 12 + b"\x08\x00" + outer_ip + udp + inner


def test_vxlan_overhead_is_outer_minus_inner() -> None:
    data = _vxlan_frame(1450)
    frame = decode_frame(data, 0.0, 14 + 1500)
    assert frame is not None
    e = vxlan_inner(frame)
    assert e is not None
    assert (e.outer_len, e.inner_len, e.outer_len - e.inner_len) == (1500, 1450, 50)
    assert e.inner.ip_src == "10.0.100.5"


def test_option_26_in_config_or_command_line() -> None:
    argv = [["dnsmasq", "--dhcp-range=set:tenant,10.0.100.0,static", "--conf-file=/x"]]
    assert mtu_options(argv, [("/x:1", "# nothing")]) == []
    found = mtu_options(argv, [("/x:2", "dhcp-option-force=26,1450")])
    assert found == [("/x:2", "dhcp-option-force=26,1450")]
    out = judge_mtu_option("controller", 1, found, ["/x"])
    assert (out.outcome, out.facts["advertised_mtu"]) == ("advertised", "1450")
    assert judge_mtu_option("controller", 1, [], ["/x"]).outcome == "not_advertised"


def test_ping_sizes_lines() -> None:
    assert parse_ping_sizes("56 ok\n1472 fail\n", "t") == [(56, True), (1472, False)]
