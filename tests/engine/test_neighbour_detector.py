"""engine/detectors/neighbour.py over outputs from the neighbour-overflow lab (kernel 6.18)."""

from __future__ import annotations

import pytest

from engine.detectors.neighbour import (
    SAMPLE_SEPARATOR,
    Arp,
    NeighEntry,
    judge_resolution,
    judge_table,
    parse_neigh,
    parse_ntable,
    parse_ntable_samples,
    parse_overflow_log,
)
from engine.errors import CloudtalesError

NTABLE = """\
inet arp_cache 
    thresh1 16 thresh2 32 thresh3 64 gc_int 30000 
    config key_len 4 entry_size 336 entries 85 
        last_flush 2026-12-04 17:09:47 last_rand 2026-12-04 17:09:41 
    refcnt 1 reachable 17164 base_reachable 30000 retrans 1000 
    stats allocs 6825 destroys 6740 hash_grows 4 
    res_failed 360 lookups 24751 hits 5875 
    periodic_gc_runs 1688 forced_gc_runs {forced} 
    table_fulls {fulls} 

inet arp_cache 
    dev brq-tenant 
    refcnt 1 reachable 30460 base_reachable 30000 retrans 1000 
"""  # noqa: W291 - ip prints a space at the end of each line
NEIGH = """\
10.0.100.147 dev brq-tenant lladdr 52:92:89:af:b9:fe REACHABLE 
10.0.100.146 dev brq-tenant lladdr 52:92:89:af:b9:fe DELAY 
10.0.100.5 dev brq-tenant  INCOMPLETE
203.0.113.10 dev eth1 lladdr 32:df:fc:9a:f9:41 PERMANENT 
"""  # noqa: W291
KERNEL = """\
25668.16 32443.06
[25000.644669] neighbour: arp_cache: neighbor table overflow!
[25660.755518] neighbour: arp_cache: neighbor table overflow!
[25661.755526] neighbour: arp_cache: neighbor table overflow!
"""


def sample(forced: int, fulls: int) -> str:
    return NTABLE.format(forced=forced, fulls=fulls)


def test_ntable_reads_the_table_wide_block_only() -> None:
    t = parse_ntable(sample(1780, 1767))
    assert (t.thresh1, t.thresh2, t.thresh3, t.entries) == (16, 32, 64, 85)
    assert (t.forced_gc_runs, t.table_fulls) == (1780, 1767)


def test_two_reads_split_on_the_separator() -> None:
    text = f"{sample(1780, 1767)}{SAMPLE_SEPARATOR}\n{sample(1930, 1917)}"
    first, last = parse_ntable_samples(text)
    assert last.table_fulls - first.table_fulls == 150


def test_ntable_without_thresholds_is_one_line_error() -> None:
    with pytest.raises(CloudtalesError, match="no thresh1, thresh2, thresh3, entries"):
        parse_ntable("Error: no such table\n", "host controller: ip -s ntable")


def test_ntable_without_its_statistics_is_an_error_not_zero_refusals() -> None:
    cut = sample(1780, 1767).split("    periodic_gc_runs")[0]  # as `ip ntable` without -s
    with pytest.raises(CloudtalesError, match="no forced_gc_runs, table_fulls"):
        parse_ntable(cut)


def test_neigh_lines_with_and_without_a_link_layer_address() -> None:
    entries = parse_neigh(NEIGH)
    assert [e.state for e in entries] == ["REACHABLE", "DELAY", "INCOMPLETE", "PERMANENT"]
    assert entries[2] == NeighEntry("10.0.100.5", "brq-tenant", "INCOMPLETE")


def test_overflow_log_keeps_the_recent_messages() -> None:
    log = parse_overflow_log(KERNEL)
    assert log.recent("") == [25660.755518, 25661.755526]  # the first is 668 s old


def test_table_over_its_limit_and_refusing_is_overflowing() -> None:
    first, last = parse_ntable(sample(1780, 1767)), parse_ntable(sample(1930, 1917))
    out = judge_table("controller", first, last, parse_neigh(NEIGH), [1.0, 2.0])
    assert out.outcome == "overflowing"
    assert out.facts["table_fulls_delta"] == 150
    assert out.facts["own_states"] == "1 REACHABLE, 1 DELAY, 1 INCOMPLETE, 1 PERMANENT"


def test_full_table_that_refused_nothing_while_watched_is_only_full() -> None:
    t = parse_ntable(sample(1780, 1767))
    assert judge_table("controller", t, t, [], []).outcome == "full"


def test_table_below_gc_thresh2_has_room_whatever_the_counter_said_since_boot() -> None:
    normal = "thresh1 128 thresh2 512 thresh3 1024"
    t = parse_ntable(sample(1028, 1020).replace("thresh1 16 thresh2 32 thresh3 64", normal))
    assert judge_table("controller", t, t, [], []).outcome == "room"


LOST = [False] * 5


def test_unresolved_instance_while_the_table_refuses_is_the_overflow() -> None:
    out = judge_resolution("10.0.100.5", LOST, [], None, 377, "controller:brq-tenant")
    assert out.outcome == "unresolved_overflow"
    assert out.facts["router_entry"] == "no entry"


def test_an_arp_reply_from_the_target_is_not_the_overflow() -> None:
    arps = [Arp(1, "10.0.100.1", "10.0.100.5"), Arp(2, "10.0.100.5", "10.0.100.1")]
    out = judge_resolution("10.0.100.5", LOST, arps, None, 377, "controller:brq-tenant")
    assert out.outcome == "unresolved"
    assert (out.facts["arp_requests"], out.facts["arp_replies"]) == (1, 1)


def test_a_usable_entry_means_the_loss_is_elsewhere_and_answers_are_answers() -> None:
    entry = NeighEntry("10.0.100.5", "brq-tenant", "REACHABLE")
    out = judge_resolution("10.0.100.5", LOST, [], entry, 377, "x")
    assert out.outcome == "resolved_but_lost"
    assert judge_resolution("10.0.100.5", [True] * 5, [], entry, 0, "x").outcome == "answered"


def test_no_refusal_counted_is_not_the_overflow() -> None:
    assert judge_resolution("10.0.100.5", LOST, [], None, 0, "x").outcome == "unresolved"
