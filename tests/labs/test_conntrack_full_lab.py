"""The conntrack-full lab, for real: a router namespace whose conntrack table a burst of
held TCP flows fills once the global nf_conntrack_max is lowered; the engine's checks
over SSH, the drills (own playbook and triage), and the global maximum given back on
``down`` and after a crash.

The tests run in file order against one module-scoped lab: faulty first, then the
healthy rebuild, then teardown and the crash case. Drills run as the CLI does, bounded
by the 60 s every drill must finish in (a subprocess timeout, not a timed assertion).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.remote.inventory import load_inventory
from engine.results import CheckResult
from labs.conntrack_full import global_max
from labs.conntrack_full import plan as p
from labs.conntrack_full.lab import ConntrackFullLab, read_router
from labs.core import netns
from labs.core.registry import LABS
from tests.labs.conftest import fresh_lab, lab_cli, run_lab_check

pytestmark = pytest.mark.lab
SHARED_VARS = {"ip", "capture_iface", "mtu", "lab_mode", "netns"}  # every network lab's
DIAGNOSIS = "conntrack-table-full"
ORIGINAL_MAX = global_max.current()  # before this module built anything


def connect_from_outside(seconds: int = 3) -> int:
    """One new TCP connect from the outside host to the instance's app: bash's exit status."""
    script = f"exec 3<>/dev/tcp/{p.INSTANCE_IP}/{p.APP_PORT}"
    done = subprocess.run(
        netns.in_ns(p.OUTSIDE.netns, ["timeout", str(seconds), "bash", "-c", script]),
        capture_output=True, text=True, check=False, timeout=seconds + 5,
    )  # fmt: skip
    return done.returncode


def established_from_outside() -> int:
    out = netns.run(
        netns.in_ns(
            p.OUTSIDE.netns, ["ss", "-Htn", "state", "established", f"dport = :{p.APP_PORT}"]
        )
    )
    return len(out.stdout.splitlines())


def router_drops() -> int:
    out = netns.run(netns.in_ns(p.CONTROLLER.netns, ["cat", "/proc/net/stat/nf_conntrack"]))
    rows = [ln.split() for ln in out.stdout.splitlines()]
    col = rows[0].index("drop")
    return sum(int(r[col], 16) for r in rows[1:])


def run_check(lab: ConntrackFullLab, name: str, hosts: list[str], **params: Any) -> CheckResult:
    return run_lab_check(lab.inventory_path(), name, hosts, **params)


@pytest.fixture(scope="module")
def lab() -> Iterator[ConntrackFullLab]:
    yield from fresh_lab("conntrack-full", ConntrackFullLab)


# ---------------------------------------------------------------- faulty


def test_registered_and_up_with_the_network_labs_inventory_shape(lab: ConntrackFullLab) -> None:
    assert LABS["conntrack-full"] is lab
    status = lab.status()
    assert status.running, status.details
    assert (status.mode, status.healthy) == (p.MODE, False)
    inv = load_inventory(lab.inventory_path())
    assert sorted(inv.hosts) == ["compute", "controller", "instance", "outside"]
    for name, host in inv.hosts.items():
        assert host.roles == [name]
        assert set(host.vars) >= SHARED_VARS, name


def test_faulty_lowers_the_global_maximum_and_saves_the_original(lab: ConntrackFullLab) -> None:
    assert global_max.current() == p.LOWERED_MAX
    saved = global_max.saved()
    assert saved is not None
    assert saved["original"] == ORIGINAL_MAX
    write = ["sh", "-c", "echo 9 > /proc/sys/net/netfilter/nf_conntrack_max"]
    done = netns.run(netns.in_ns(p.CONTROLLER.netns, write), check=False)
    assert done.returncode != 0  # read-only inside a namespace
    assert "Permission denied" in done.stderr, done.stderr


def test_table_full_new_flows_dropped_established_ones_live(lab: ConntrackFullLab) -> None:
    assert (
        read_router("nf_conntrack_count") == read_router("nf_conntrack_max") == str(p.LOWERED_MAX)
    )
    assert established_from_outside() >= p.LOWERED_MAX - 1  # the burst's flows live on
    before = router_drops()
    assert connect_from_outside() == 124  # timed out: the SYN found no room
    assert router_drops() > before
    assert established_from_outside() >= p.LOWERED_MAX - 1


def test_checks_see_the_full_table_and_the_dropped_syns(lab: ConntrackFullLab) -> None:
    table = run_check(lab, "conntrack_table", ["controller"])
    assert table.outcome == "full_dropping", table.summary
    assert (table.facts["count"], table.facts["max"]) == (p.LOWERED_MAX, p.LOWERED_MAX)
    assert isinstance(table.facts["kernel_messages"], int)
    assert table.facts["kernel_messages"] > 0  # dmesg names this namespace's inode
    syn = run_check(lab, "conntrack_syn_drop", ["outside", "controller"], target=p.INSTANCE_IP)
    assert syn.outcome == "dropped_by_conntrack", syn.summary
    assert syn.facts["syns_forwarded"] == 0
    assert syn.facts["kernel_drops_total"] == 0


def test_drill_ends_in_the_conntrack_diagnosis(lab: ConntrackFullLab) -> None:
    out = lab_cli("drill", "conntrack-full", "--autopilot")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.rstrip().endswith(f"diagnosis: {DIAGNOSIS}")
    assert lab.status().running  # a lab the user had up stays up


def test_triage_routes_to_the_conntrack_diagnosis(lab: ConntrackFullLab) -> None:
    out = lab_cli("drill", "conntrack-full", "--autopilot", "--symptom", "instance-unreachable")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "iu-conntrack -> full_dropping" in out.stdout
    assert out.stdout.rstrip().endswith(f"diagnosis: {DIAGNOSIS}")


# ---------------------------------------------------------------- healthy


def test_healthy_keeps_the_normal_maximum_and_the_burst_passes(lab: ConntrackFullLab) -> None:
    lab.up(healthy=True)
    assert global_max.current() == ORIGINAL_MAX
    assert global_max.saved() is None
    assert established_from_outside() == p.BURST
    assert connect_from_outside() == 0
    table = run_check(lab, "conntrack_table", ["controller"])
    assert table.outcome == "room", table.summary


def test_healthy_drill_never_ends_in_the_conntrack_diagnosis(lab: ConntrackFullLab) -> None:
    out = lab_cli("drill", "conntrack-full", "--healthy", "--autopilot")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.rstrip().splitlines()[-1] == "diagnosis: conntrack-has-room"


# ---------------------------------------------------------------- teardown, crash


def test_down_leaves_nothing_and_gives_the_maximum_back(lab: ConntrackFullLab) -> None:
    lab.up()  # faulty again: down must restore the lowered maximum
    assert global_max.current() == p.LOWERED_MAX
    lab.down()
    assert global_max.current() == ORIGINAL_MAX
    assert global_max.saved() is None
    assert netns.namespaces(p.NS_PREFIX) == []
    assert netns.links(prefix=p.ROOT_PREFIX) == []
    assert not lab.run_dir.exists()
    assert not list(Path("/etc/netns").glob(f"{p.NS_PREFIX}*"))


def test_a_crashed_lab_s_maximum_comes_back_on_any_lab_command() -> None:
    """As a ``lab up`` killed after lowering leaves it: the saved file, no lab."""
    global_max.lower(p.LOWERED_MAX, "conntrack-full")
    try:
        out = lab_cli("lab", "status", "dns")  # another lab's command
        assert out.returncode in (0, 1), out.stdout + out.stderr
        assert global_max.current() == ORIGINAL_MAX
        assert global_max.saved() is None
    finally:
        global_max.restore()
