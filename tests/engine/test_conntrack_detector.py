"""engine/detectors/conntrack.py over outputs taken from the conntrack-full lab (kernel 6.18)."""

from __future__ import annotations

import pytest

from engine.detectors.conntrack import (
    Fill,
    judge_table,
    parse_fill,
    parse_kernel_log,
    parse_stats,
)
from engine.errors import CloudtalesError

STATS = """\
entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000080  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000000
00000080  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000006 00000000 00000000  00000000 00000000 00000000 00000000
"""  # noqa: E501
KERNEL = """\
18480.50 9000.00
[18476.066539] nf_conntrack: nf_conntrack: table full in netns 4026532435, dropping packet
[18477.074635] nf_conntrack: nf_conntrack: table full in netns 4026532435, dropping packet
[17000.000000] nf_conntrack: nf_conntrack: table full in netns 4026532435, dropping packet
[18478.000000] nf_conntrack: nf_conntrack: table full in netns 4026530000, dropping packet
"""


def test_stats_sum_the_cpus_hex_columns() -> None:
    stats = parse_stats(STATS)
    assert (stats["drop"], stats["insert_failed"], stats["early_drop"]) == (6, 0, 0)
    assert "entries" not in stats


def test_stats_without_header_is_one_line_error() -> None:
    with pytest.raises(CloudtalesError, match="no 'entries' header"):
        parse_stats("cpu=0 found=0", "host controller: /proc/net/stat/nf_conntrack")


def test_kernel_messages_of_this_namespace_and_recent_only() -> None:
    log = parse_kernel_log(KERNEL)
    assert log.recent("4026532435") == [18476.066539, 18477.074635]  # not the old one
    assert log.recent("1") == []  # another namespace's messages do not count


def test_full_table_with_drops() -> None:
    fill = parse_fill("nf_conntrack_count=128\nnf_conntrack_max=128\nnetns=net:[4026532435]\n")
    out = judge_table("controller", fill, parse_stats(STATS), [18476.0])
    assert out.outcome == "full_dropping"
    assert (out.facts["count"], out.facts["max"], out.facts["drop"]) == (128, 128, 6)


def test_room_near_full_and_no_conntrack() -> None:
    assert judge_table("c", Fill(137, 262144, "1"), {}, []).outcome == "room"
    assert judge_table("c", Fill(120, 128, "1"), {}, []).outcome == "near_full"
    assert judge_table("c", Fill(128, 128, "1"), {}, []).outcome == "full"  # no drop counted
    missing = parse_fill("nf_conntrack_count=\nnf_conntrack_max=\nnetns=net:[1]\n")
    assert judge_table("c", missing, {}, []).outcome == "no_conntrack"
