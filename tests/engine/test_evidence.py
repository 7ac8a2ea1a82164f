"""Requirements, verdicts and the walker's gate: no diagnosis without its observed evidence."""

from __future__ import annotations

import pytest

from engine.playbook.evidence import fill, parse_requirement
from engine.playbook.graph import PlaybookGraph, load_valid_graph
from engine.results import CheckResult
from engine.walker import Walker

SYMPTOM = "ssh-freezes-on-large-output"


@pytest.fixture(scope="module")
def graph() -> PlaybookGraph:
    return load_valid_graph()


@pytest.mark.parametrize(
    ("text", "facts", "holds"),
    [
        ("a.outcome", {"a.outcome": "x"}, True),
        ("a.outcome", {}, False),
        ("a.outcome", {"a.outcome": None}, False),
        ("a.outcome=x|y", {"a.outcome": "y"}, True),
        ("a.outcome=x|y", {"a.outcome": "z"}, False),
        ("a.outcome!=x", {"a.outcome": "z"}, True),
        ("a.outcome!=x", {"a.outcome": "x"}, False),
        ("a.rate>=1000", {"a.rate": 2}, False),
        ("a.rate>=1000", {"a.rate": 3600}, True),
        ("a.rate<1", {"a.rate": 0.5}, True),
        ("a.devices>0", {"a.devices": []}, False),  # a list counts by its length
        ("a.devices>0", {"a.devices": ["vlan100@vlan20"]}, True),
        ("a.flag=true", {"a.flag": True}, True),
        ("a.rate>=10", {"a.rate": "lots"}, False),
    ],
)
def test_requirement_holds(text: str, facts: dict[str, object], holds: bool) -> None:
    assert parse_requirement(text).holds(facts) is holds


@pytest.mark.parametrize("bad", ["nodot", "a.b>=x", "a.b=", "a.b=|x", ""])
def test_bad_requirement_says_why(bad: str) -> None:
    with pytest.raises(ValueError, match="requirement|number|empty value"):
        parse_requirement(bad)


def test_fill_names_what_was_observed() -> None:
    text = "vlan_interface is {facts.n.vlan_interface}; seen at {facts.c.hops}"
    assert fill(text, {"n.vlan_interface": "vlan20", "c.hops": ["a", "b"]}) == (
        "vlan_interface is vlan20; seen at a, b"
    )
    assert "(n.vlan_interface not observed)" in fill(text, {})


def test_failed_check_makes_the_walk_inconclusive_naming_host_and_how(
    graph: PlaybookGraph,
) -> None:
    w = Walker.start(graph, SYMPTOM)
    w.record_result("pmtu-outside-instance", CheckResult("reduced", "1496"))
    w.record_failure(
        "capture-path",
        "capture lost at compute:bond0: host compute: connection lost",
        "compute",
        "tcpdump -i bond0 -n -e -c 100",
    )
    assert w.done
    v = w.verdict
    assert v is not None
    assert w.diagnosis is None
    assert v.line() == (
        "inconclusive: capture-path@compute (capture lost at compute:bond0: host compute: "
        "connection lost)"
    )
    assert v.by_hand() == [
        "capture-path: run `tcpdump -i bond0 -n -e -c 100` on compute "
        "(capture lost at compute:bond0: host compute: connection lost)"
    ]
    # a failed check contributes no observed facts but its error
    assert "capture-path.outcome" not in w.facts
    assert "capture-path.summary" not in w.facts
    assert w.facts["capture-path.error_host"] == "compute"


def test_an_unbacked_diagnosis_node_is_not_named(graph: PlaybookGraph) -> None:
    w = Walker.start(graph, SYMPTOM)
    w.record_result("pmtu-outside-instance", CheckResult("reduced", "1496"))
    w.record_result("capture-path", CheckResult("stacked", "2 tags"))  # no stacking hop
    w.record_result("links-compute", CheckResult("no_vlan_devices", "none"))
    w.record_result(
        "nova-vlan-interface", CheckResult("is_vlan_device", "vlan20", {"vlan_interface": "vlan20"})
    )
    assert w.state.current == "vlan-on-vlan"
    v = w.verdict
    assert v is not None
    assert not v.conclusive
    assert v.line() == (
        "inconclusive: vlan-on-vlan needs capture-path.first_stacking_hop (not observed)"
    )


def test_the_operators_fact_counts_and_is_marked(graph: PlaybookGraph) -> None:
    w = Walker.start(graph, SYMPTOM)
    w.set_fact("pmtu-outside-instance.outcome", "full")
    w.set_fact("pmtu-outside-instance.summary", "1500 fits (from my own ping)")
    v = w.verdict
    assert v is not None
    assert v.diagnosis is not None
    assert v.diagnosis.id == "path-mtu-ok"
    assert v.title == (
        "Full-size packets reach the instance (1500 fits (from my own ping)): not an MTU problem"
    )
    assert "pmtu-outside-instance.outcome" in v.operator_facts
    assert v.line() == "diagnosis: path-mtu-ok"
