"""The neighbour-overflow lab, for real: a router talking to 100 ports whose ARP entries
fill the kernel's table once the global gc_thresh1/2/3 are lowered, so it cannot make an
entry for the instance; the engine's checks over SSH, the drills (own playbook and
triage), the machine's own entries kept, and the thresholds given back on ``down`` and
after a crash.

The tests run in file order against one module-scoped lab: faulty first, then the
healthy rebuild, then teardown and the crash case. Drills run as the CLI does, bounded
by the 60 s every drill must finish in (a subprocess timeout, not a timed assertion).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.detectors.neighbour import parse_ntable
from engine.remote.inventory import load_inventory
from engine.results import CheckResult
from labs.core import netns
from labs.core.registry import LABS
from labs.neighbour_overflow import pins
from labs.neighbour_overflow import plan as p
from labs.neighbour_overflow.lab import (
    HEARTBEAT_SCRIPT,
    THRESHOLDS,
    NeighbourOverflowLab,
    heartbeat_running,
)
from tests.labs.conftest import fresh_lab, lab_cli, run_lab_check

pytestmark = pytest.mark.lab
SHARED_VARS = {"ip", "capture_iface", "mtu", "lab_mode", "netns"}  # every network lab's
DIAGNOSIS = "neighbour-table-overflow"
ORIGINAL = THRESHOLDS.current()  # before this module built anything


def ping_from_outside(count: int = 3) -> int:
    done = subprocess.run(
        netns.in_ns(p.OUTSIDE.netns, ["ping", "-n", "-c", str(count), "-i", "0.3", "-W", "1",
                                      p.INSTANCE_IP]),
        capture_output=True, text=True, check=False, timeout=count + 10,
    )  # fmt: skip
    return done.returncode


def router_table_fulls() -> int:
    out = netns.run(
        netns.in_ns(p.CONTROLLER.netns, ["ip", "-s", "ntable", "show", "name", "arp_cache"])
    )
    return parse_ntable(out.stdout).table_fulls


def router_entry_state(addr: str) -> str:
    out = netns.ip("-4", "-j", "neigh", "show", addr, ns=p.CONTROLLER.netns).stdout
    rows = json.loads(out or "[]")
    return rows[0]["state"][0] if rows else "none"


def root_states() -> dict[tuple[str, str], list[str]]:
    rows = json.loads(netns.ip("-4", "-j", "neigh", "show").stdout or "[]")
    return {(r["dst"], r["dev"]): r.get("state", []) for r in rows}


def run_check(lab: NeighbourOverflowLab, name: str, hosts: list[str], **params: Any) -> CheckResult:
    return run_lab_check(lab.inventory_path(), name, hosts, **params)


@pytest.fixture(scope="module")
def lab() -> Iterator[NeighbourOverflowLab]:
    yield from fresh_lab("neighbour-overflow", NeighbourOverflowLab)


# ---------------------------------------------------------------- faulty


def test_registered_and_up_with_the_network_labs_inventory_shape(lab: NeighbourOverflowLab) -> None:
    assert LABS["neighbour-overflow"] is lab
    status = lab.status()
    assert status.running, status.details
    assert (status.mode, status.healthy) == (p.MODE, False)
    inv = load_inventory(lab.inventory_path())
    assert sorted(inv.hosts) == ["compute", "controller", "instance", "outside"]
    for name, host in inv.hosts.items():
        assert host.roles == [name]
        assert set(host.vars) >= SHARED_VARS, name


def test_faulty_lowers_the_global_thresholds_and_pins_the_machine_s_entries(
    lab: NeighbourOverflowLab,
) -> None:
    assert THRESHOLDS.current() == p.LOWERED
    saved = THRESHOLDS.saved()
    assert saved is not None
    assert saved["original"] == ORIGINAL
    root = root_states()
    for pin in pins.from_extra(saved["extra"]):  # the machine's entries, pinned
        assert root.get((pin.dst, pin.dev)) == ["PERMANENT"], pin
    # a child namespace has no neigh/default: the thresholds are the init namespace's
    done = netns.run(netns.in_ns(p.CONTROLLER.netns, ["ls", str(p.NEIGH_DEFAULT)]), check=False)
    assert done.returncode != 0


def test_the_router_cannot_resolve_the_instance(lab: NeighbourOverflowLab) -> None:
    before = router_table_fulls()
    assert ping_from_outside() != 0  # every ping lost at the router
    assert router_entry_state(p.INSTANCE_IP) in ("none", "INCOMPLETE", "FAILED")
    assert router_table_fulls() > before
    own = netns.ip("-4", "neigh", "show", "dev", p.BRIDGE, ns=p.CONTROLLER.netns).stdout
    assert len(own.splitlines()) > p.LOWERED["gc_thresh3"] // 2  # the ports' entries live


def test_checks_see_the_overflow_and_the_unresolved_instance(lab: NeighbourOverflowLab) -> None:
    table = run_check(lab, "neighbour_table", ["controller"])
    assert table.outcome == "overflowing", table.summary
    assert table.facts["thresh3"] == p.LOWERED["gc_thresh3"]
    assert isinstance(table.facts["table_fulls_delta"], int)
    assert table.facts["table_fulls_delta"] > 0
    res = run_check(lab, "neighbour_resolution", ["outside", "controller"], target=p.INSTANCE_IP)
    assert res.outcome == "unresolved_overflow", res.summary
    assert res.facts["arp_replies"] == 0
    assert res.facts["kernel_drops_total"] == 0


def test_drill_ends_in_the_neighbour_diagnosis(lab: NeighbourOverflowLab) -> None:
    out = lab_cli("drill", "neighbour-overflow", "--autopilot")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.rstrip().endswith(f"diagnosis: {DIAGNOSIS}")
    assert lab.status().running  # a lab the user had up stays up


def test_triage_routes_to_the_neighbour_diagnosis(lab: NeighbourOverflowLab) -> None:
    out = lab_cli("drill", "neighbour-overflow", "--autopilot", "--symptom", "instance-unreachable")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "iu-conntrack -> room" in out.stdout
    assert "iu-neighbour -> overflowing" in out.stdout
    assert out.stdout.rstrip().endswith(f"diagnosis: {DIAGNOSIS}")


# ---------------------------------------------------------------- healthy


def test_healthy_keeps_the_thresholds_and_the_instance_answers(lab: NeighbourOverflowLab) -> None:
    lab.up(healthy=True)
    assert THRESHOLDS.current() == ORIGINAL
    assert THRESHOLDS.saved() is None
    assert ping_from_outside() == 0
    table = run_check(lab, "neighbour_table", ["controller"])
    assert table.outcome == "room", table.summary
    assert table.facts["table_fulls_delta"] == 0


def test_healthy_drill_never_ends_in_the_neighbour_diagnosis(lab: NeighbourOverflowLab) -> None:
    out = lab_cli("drill", "neighbour-overflow", "--healthy", "--autopilot")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.rstrip().splitlines()[-1] == "diagnosis: neighbour-table-has-room"


# ---------------------------------------------------------------- teardown, crash


def test_a_stopped_heartbeat_is_a_problem_the_status_names(lab: NeighbourOverflowLab) -> None:
    assert heartbeat_running()
    script = str(HEARTBEAT_SCRIPT)
    pids = [pid for pid in netns.namespace_pids(p.CONTROLLER.netns) if script in netns.cmdline(pid)]
    netns.stop_pids(pids)
    status = lab.status()
    assert not status.running
    assert any("heartbeat is not running" in d for d in status.details), status.details


def test_down_leaves_nothing_and_gives_the_thresholds_back(lab: NeighbourOverflowLab) -> None:
    lab.up()  # faulty again: down must restore the lowered thresholds
    saved = THRESHOLDS.saved()
    assert saved is not None
    pinned = pins.from_extra(saved["extra"])
    lab.down()
    assert THRESHOLDS.current() == ORIGINAL
    assert THRESHOLDS.saved() is None
    root = root_states()
    for pin in pinned:  # an ordinary entry again (or re-learnt since), never permanent
        assert "PERMANENT" not in root.get((pin.dst, pin.dev), []), pin
    assert netns.namespaces(p.NS_PREFIX) == []
    assert netns.links(prefix=p.ROOT_PREFIX) == []
    assert not lab.run_dir.exists()
    assert not list(Path("/etc/netns").glob(f"{p.NS_PREFIX}*"))


def test_a_crashed_lab_s_thresholds_come_back_on_any_lab_command() -> None:
    """As a ``lab up`` killed after lowering leaves it: the saved file, no lab."""
    root = pins.resolved_entries()
    THRESHOLDS.lower(p.LOWERED, "neighbour-overflow", extra=pins.to_extra(root),
                     prepare=lambda: pins.pin(root))  # fmt: skip
    try:
        assert THRESHOLDS.current() == p.LOWERED
        out = lab_cli("lab", "status", "dns")  # another lab's command
        assert out.returncode in (0, 1), out.stdout + out.stderr
        assert THRESHOLDS.current() == ORIGINAL
        assert THRESHOLDS.saved() is None
        states = root_states()
        for pin in root:
            assert "PERMANENT" not in states.get((pin.dst, pin.dev), []), pin
    finally:
        THRESHOLDS.restore()
