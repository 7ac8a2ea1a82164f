"""Chaos drills in CI: a small fixed set of real walks, each with one fault injected at a
moment read from the walk's journal. None may end wrong (another diagnosis, a
traceback, a hang, a remote process left behind); a fault that lands once every check
on its host has ended must still give the right diagnosis. The full sweep is
``bench/chaos_sweep.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from labs.chaos.run import Plan, RunResult, drills, named_hosts, run_once
from labs.core.registry import get_lab

pytestmark = pytest.mark.lab

# (drill, plan, the verdict it must reach)
FIXED = [
    # step 3 is vd-bpdu-capture: 6 s of capture on the compute, so the kill lands inside it
    # (at step 1, a 50 ms bond read, a late poll could land it after the compute's checks)
    ("valentines", Plan("kill-sshd", step=3, phase="started", pick=0.0), "inconclusive"),
    # the last check has ended: the frozen sshd must not change the diagnosis nor hang the exit
    ("valentines", Plan("freeze-sshd", step=4, phase="result", pick=0.0), "right"),
    ("double-vlan", Plan("kill-tcpdump", step=2, phase="started", pick=0.0), "inconclusive"),
    ("havana", Plan("stop-service", step=1, phase="started", pick=0.0), "inconclusive"),
    # the tenant dnsmasq stops while dn-capture runs: dn-upstreams finds none, and the line
    # must name dn-upstreams@controller (it said "the walk was skipped to its end")
    ("dns", Plan("stop-service", step=2, phase="started", pick=0.0), "inconclusive"),
    # sshd dies on outside, the host the SYNs of sg-syn-path come from (traffic_from)
    ("security-group", Plan("kill-sshd", step=2, phase="started", pick=0.9), "inconclusive"),
]


@pytest.fixture(scope="module", autouse=True)
def _valentines_down_at_the_end() -> Iterator[None]:
    """valentines is kept up between its cases (a rebuild is the slow part), then down."""
    yield
    get_lab("valentines").down()


def _why(res: RunResult) -> str:
    return f"{res.plan.describe()} on {res.host} ({res.how}): {res.problems}\n{res.tail}"


@pytest.mark.parametrize(
    ("drill", "plan", "want"), FIXED, ids=[f"{d}-{p.fault}-{w}" for d, p, w in FIXED]
)
def test_a_fault_mid_walk_ends_right_or_inconclusive_naming_the_host(
    drill: str, plan: Plan, want: str, tmp_path: Path
) -> None:
    spec = drills()[drill]
    lab = get_lab(spec.lab)
    lab.up()  # kept between the cases of one lab; rebuilt by run_once when a fault killed sshd
    try:
        res = run_once(lab, spec, plan, tmp_path)
    finally:
        if drill != "valentines":
            lab.down()
    assert res.landed, _why(res)
    assert res.problems == [], _why(res)
    assert res.verdict == want, _why(res)
    if want == "right":
        assert res.after_evidence, _why(res)
        assert res.last_line == f"diagnosis: {spec.expect}"
    else:
        assert res.last_line.startswith("inconclusive: "), _why(res)
        assert res.host in named_hosts(res.last_line)
        assert "diagnosis:" not in res.last_line
