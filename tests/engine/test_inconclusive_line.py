"""An inconclusive ending says where the walk stopped and on which host.

Seen in a chaos drill (dns lab, the tenant dnsmasq stopped while dn-capture ran):
dn-upstreams found ``no_dnsmasq``, which the playbook maps to ``inconclusive``, and the
headless line said only "inconclusive: the walk was skipped to its end": no check, no
host, and nothing was skipped.
"""

from __future__ import annotations

from pathlib import Path

from engine.playbook.graph import load_valid_graph
from engine.results import CheckResult
from engine.walker import Walker

DNS = Path(__file__).resolve().parents[2] / "playbooks" / "dns.yaml"


def _walk_to_no_dnsmasq() -> Walker:
    w = Walker.start(load_valid_graph([DNS]), "instance-cannot-resolve")
    w.record("check_started", node="dn-lookup", hosts=["instance"])
    w.record_result("dn-lookup", CheckResult("failed", "10.0.100.1 says REFUSED", {}))
    w.record("check_started", node="dn-capture", hosts=["controller", "instance"])
    w.record_result("dn-capture", CheckResult("no_replies", "1 query, no reply", {}))
    w.record("check_started", node="dn-upstreams", hosts=["controller"])
    w.record_result("dn-upstreams", CheckResult("no_dnsmasq", "no dnsmasq runs on controller", {}))
    return w


def test_an_outcome_mapped_to_inconclusive_names_the_check_and_its_host() -> None:
    w = _walk_to_no_dnsmasq()
    v = w.verdict
    assert v is not None
    assert not v.conclusive
    assert v.line() == (
        "inconclusive: dn-upstreams@controller (no_dnsmasq: no dnsmasq runs on controller)"
    )
    assert v.title == (
        "Inconclusive: the playbook goes no further after "
        "dn-upstreams@controller (no_dnsmasq: no dnsmasq runs on controller)"
    )


def test_a_resumed_journal_names_the_same_host() -> None:
    w = _walk_to_no_dnsmasq()
    again = Walker.resume(w.graph, w.events)
    v = again.verdict
    assert v is not None
    assert v.line().startswith("inconclusive: dn-upstreams@controller (no_dnsmasq")


def test_a_failure_is_still_named_first() -> None:
    w = Walker.start(load_valid_graph([DNS]), "instance-cannot-resolve")
    w.record("check_started", node="dn-lookup", hosts=["instance"])
    w.record_failure("dn-lookup", "host instance: connection lost", "instance")
    w.record("check_started", node="dn-capture", hosts=["controller", "instance"])
    w.record_result("dn-capture", CheckResult("no_queries", "no query seen", {}))
    v = w.verdict
    assert v is not None
    assert v.line() == "inconclusive: dn-lookup@instance (connection lost)"
