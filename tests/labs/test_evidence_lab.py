"""Evidence you can trust, on real labs: a host that dies mid-walk, an inventory that lacks
what a symptom needs. Each must end ``inconclusive`` naming the host, never in a diagnosis
built on checks that could not run, and leave no tcpdump behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labs.core import netns
from labs.core.registry import get_lab
from labs.double_vlan.lab import NS_PREFIX as DV_PREFIX
from labs.double_vlan.lab import DoubleVlanLab
from tests.labs.conftest import fresh_lab

pytestmark = pytest.mark.lab


def cloudtales(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def autopilot(inventory: Path, symptom: str, journal: Path) -> subprocess.Popen[str]:
    """``investigate --autopilot`` on a lab's inventory, as an operator would run it."""
    return cloudtales(
        "investigate", "-i", str(inventory), "-s", symptom, "--autopilot", "--journal", str(journal)
    )


def pids_in(ns: str, name: str) -> list[int]:
    """Processes called ``name`` whose network namespace is ``ns``."""
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    found = []
    for pid in out.split():
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if comm == name:
            found.append(int(pid))
    return found


def tcpdumps_in_labs(prefix: str) -> list[int]:
    return [p for ns in netns.namespaces(prefix) for p in pids_in(ns, "tcpdump")]


@pytest.fixture(scope="module")
def dv_lab() -> Iterator[DoubleVlanLab]:
    yield from fresh_lab("double-vlan", DoubleVlanLab)


def test_compute_sshd_killed_during_the_capture_ends_inconclusive_naming_compute(
    dv_lab: DoubleVlanLab, tmp_path: Path
) -> None:
    compute = DV_PREFIX + "compute"
    proc = autopilot(dv_lab.inventory_path(), "ssh-freezes-on-large-output", tmp_path / "j.jsonl")
    try:
        deadline = time.monotonic() + 60
        while not pids_in(compute, "tcpdump"):  # the capture has reached the compute
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no tcpdump ever ran in the compute namespace"
            time.sleep(0.05)
        killed = pids_in(compute, "sshd")
        assert killed
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        dv_lab.down()  # its sshd is gone: the next test builds it again
    last = out.strip().splitlines()[-1]
    assert proc.returncode == 3, out + err
    assert last.startswith("inconclusive: "), out
    assert "capture-path@compute" in last, last
    assert "diagnosis:" not in out
    assert "Traceback" not in err
    # the remote tcpdump died with its session; nothing is left in any lab namespace
    assert tcpdumps_in_labs(DV_PREFIX) == []


def test_double_vlan_symptom_on_the_valentines_inventory_names_what_it_lacks(
    tmp_path: Path,
) -> None:
    lab = get_lab("valentines")
    lab.down()
    lab.up()
    try:
        proc = autopilot(lab.inventory_path(), "ssh-freezes-on-large-output", tmp_path / "j")
        out, err = proc.communicate(timeout=120)
    finally:
        lab.down()
    lines = out.strip().splitlines()
    assert proc.returncode == 3, out + err
    lacks = next(line for line in lines if " lacks: " in line)
    assert "role 'outside'" in lacks
    assert "role 'instance'" in lacks  # the compute's nova.conf is there now (control plane)
    last = lines[-1]
    assert last.startswith("inconclusive: pmtu-outside-instance@outside"), last
    assert "no host or role 'outside'" in last
    assert "double-tag-elsewhere" not in out
    assert "Traceback" not in err


def test_the_issue_without_its_load_does_not_claim_the_load(tmp_path: Path) -> None:
    """Kill both iperf3 ends: the tap may still drop, but "under load" was not measured."""
    from labs.the_issue.hosts import NS_PREFIX as TI_PREFIX

    lab = get_lab("the-issue")
    lab.down()
    lab.up()
    try:
        for ns in netns.namespaces(TI_PREFIX):
            for pid in pids_in(ns, "iperf3"):
                os.kill(pid, signal.SIGKILL)
        assert [p for ns in netns.namespaces(TI_PREFIX) for p in pids_in(ns, "iperf3")] == []
        proc = autopilot(lab.inventory_path(), "instance-drops-off-network", tmp_path / "j")
        out, err = proc.communicate(timeout=180)
    finally:
        lab.down()
    assert "Traceback" not in err
    assert "diagnosis: dhcp-replies-lost-under-load" not in out, out
    last = out.strip().splitlines()[-1]
    # the stall outlives the load: the tap still drops DHCP replies, but nothing loads it
    assert last.startswith("inconclusive: dhcp-replies-lost-under-load needs "), out
    assert "ti-tap-traffic.offered_packets_per_s>=1000 (observed" in last, last
    assert "does not back dhcp-replies-lost-under-load" in out
    assert proc.returncode == 3
