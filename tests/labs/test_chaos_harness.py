"""The chaos harness's own bookkeeping, without a lab: which hosts a step uses, which
service stop-service stops. (The walks themselves: tests/labs/test_chaos.py.)"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from labs.chaos import services
from labs.chaos.faults import LabHost, faults_for, stop_service
from labs.chaos.run import (
    JournalTail,
    Plan,
    RunResult,
    _after_evidence,
    _classify,
    drills,
    traffic_hosts,
)
from labs.chaos.services import SERVICES, service_for
from labs.core.base import LabState

REPO = Path(__file__).resolve().parents[2]
DNS_INVENTORY = REPO / "tests" / "rehearsals" / "dns-faulty" / "inventory.yaml"


def _journal(path: Path, events: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps({"seq": i, **e}) + "\n" for i, e in enumerate(events, 1)))


def test_a_step_uses_the_host_its_traffic_comes_from(tmp_path: Path) -> None:
    """dns: dn-capture runs on the controller and has the instance ask (traffic_from).
    sshd killed on the instance once dn-lookup ended is not "after the evidence": the
    walk still needs the instance, and an inconclusive dn-capture@instance is honest
    (seen in the sweep: seeds 2, 4, 6 were counted wrong)."""
    spec = drills()["dns"]
    assert spec.traffic == {"dn-capture": "instance"}
    extra = traffic_hosts(spec, DNS_INVENTORY)
    assert extra == {"dn-capture": ["instance"]}
    path = tmp_path / "j.jsonl"
    _journal(
        path,
        [
            {"type": "check_started", "node": "dn-lookup", "hosts": ["instance"]},
            {"type": "check_result", "node": "dn-lookup"},
            {"type": "check_started", "node": "dn-capture", "hosts": ["controller"]},
        ],
    )
    tail = JournalTail(path, extra)
    tail.poll()
    assert [s.hosts for s in tail.steps] == [["instance"], ["controller", "instance"]]
    assert not _after_evidence(tail.steps, "instance", at=2)  # landed after dn-lookup ended
    assert _after_evidence(tail.steps[:1], "instance", at=2)


def test_stop_service_knows_the_new_labs_services() -> None:
    for lab in ("dns", "overlay-mtu", "metadata", "compute-service-down", "havana"):
        assert "stop-service" in faults_for(lab), lab
    for lab in ("security-group", "conntrack-full", "double-vlan"):
        assert "stop-service" not in faults_for(lab), lab
    assert [s.what for s in SERVICES["dns"]] == [
        "the tenant network's dnsmasq",
        "the site resolver (dnsmasq)",
    ]
    assert service_for("dns", 0.0).what == "the tenant network's dnsmasq"
    assert service_for("dns", 0.99).what == "the site resolver (dnsmasq)"
    assert service_for("compute-service-down", 0.5).host == "compute-2"
    assert service_for("metadata", 0.5).host == "controller"


def _ended(out: str, rc: int, *, after: bool, truths: tuple[str, ...]) -> RunResult:
    res = RunResult(Plan("stop-service", 1, "started", 0.0, 104), "wrong")
    res.returncode, res.landed, res.host, res.after_evidence = rc, True, "controller", after
    res.makes_true = truths
    _classify(res, drills()["dns"], out, "")
    return res


def test_a_diagnosis_the_stopped_service_made_true_is_right_only_before_the_evidence() -> None:
    """dns seed 104: dnsmasq stopped before the instance's lookup; the walk said
    dns-no-server ("no DNS server at 10.0.100.1"), which is the lab as it then was."""
    truths = service_for("dns", 0.17).makes_true
    assert truths == ("dns-no-server",)
    res = _ended("diagnosis: dns-no-server\n", 0, after=False, truths=truths)
    assert (res.verdict, res.problems) == ("right", [])
    assert "dns-no-server" in res.note
    # once the walk had read the service, only the expected diagnosis is right
    late = _ended("diagnosis: dns-no-server\n", 0, after=True, truths=truths)
    assert late.verdict == "wrong"
    # another fault's stop makes nothing true
    other = _ended("diagnosis: dns-no-server\n", 0, after=False, truths=())
    assert other.verdict == "wrong"
    assert other.problems == ["wrong diagnosis (expected dns-forwarder-unreachable)"]


def test_a_stopped_service_counts_every_check_that_came_after(tmp_path: Path) -> None:
    """dns seed 104: dnsmasq (controller) stopped as dn-lookup (instance) started; the
    walk ended there, no check ever ran on the controller, yet the lookup read the
    stopped service: that fault did not land after the evidence."""
    path = tmp_path / "j.jsonl"
    _journal(
        path,
        [
            {"type": "check_started", "node": "dn-lookup", "hosts": ["instance"]},
            {"type": "check_result", "node": "dn-lookup"},
        ],
    )
    tail = JournalTail(path)
    tail.poll()
    assert _after_evidence(tail.steps, "controller", at=1)  # by host alone: vacuous
    assert not _after_evidence(tail.steps, None, at=1)
    assert _after_evidence(tail.steps, None, at=2)


def test_stop_service_carries_what_the_stop_makes_true(monkeypatch: pytest.MonkeyPatch) -> None:
    """The injection, not only the service table, carries makes_true to the verdict (the
    first sweep with it still judged dns seed 104 wrong: stop_service dropped it)."""
    real = services.SERVICES["dns"][0]
    fake = dataclasses.replace(real, stop=lambda lab: services.Stopped([4242]))
    monkeypatch.setitem(services.SERVICES, "dns", (fake,))
    lab = SimpleNamespace(name="dns")
    done = stop_service(lab, LabHost("controller", "ct-dn-controller", "10.250.31.1"), 0.0)
    assert done.makes_true == ("dns-no-server",)
    assert done.how == "stopped the tenant network's dnsmasq pids [4242]"
    assert done.rebuild


class _Plane:
    def __init__(self, running: list[int]) -> None:
        self.computes = [SimpleNamespace(name="compute-1"), SimpleNamespace(name="compute-2")]
        self.running, self.started = running, []  # type: ignore[var-annotated]

    def stop_compute(self, node: SimpleNamespace) -> list[int]:
        return list(self.running)

    def start_compute(self, node: SimpleNamespace) -> None:
        self.started.append(node.name)


@pytest.mark.parametrize(("running", "restarts"), [([777], ["compute-2"]), ([], [])])
def test_nova_compute_is_restarted_only_when_one_was_stopped(
    tmp_path: Path, running: list[int], restarts: list[str]
) -> None:
    """compute-service-down seed 101: no nova-compute ran on compute-2 (refused by the
    broker, it had exited); the restore started one the lab never had."""
    LabState(mode="rabbit-auth", healthy=False).save(tmp_path / "state.json")
    plane = _Plane(running)
    lab = SimpleNamespace(name="compute-service-down", run_dir=tmp_path, plane=lambda st: plane)
    done = stop_service(lab, LabHost("compute-2", "ct-cs-compute-2", "10.250.24.3"), 0.0)
    assert done.makes_true == ("compute-process-stopped",)
    done.restore()
    done.restore()  # idempotent
    assert plane.started == restarts
