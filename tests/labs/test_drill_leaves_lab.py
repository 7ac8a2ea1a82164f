"""A drill leaves a lab as it found it, on the real Double VLAN lab (issue 8).

``lab up; drill --autopilot; lab status`` still says running, in the same health and
mode, with the same sshd processes and host keys. A drill asking for the other health
(or a surprise) refuses with one line and touches nothing. A drill on a lab that was
down brings it up and takes it down again.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from labs.core import netns
from labs.double_vlan.lab import HOSTS, NS_PREFIX, DoubleVlanLab

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[2]


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def sshd_pids(lab: DoubleVlanLab) -> dict[str, int | None]:
    return {h.name: netns.sshd_pid(lab.run_dir, h.name) for h in HOSTS}


@pytest.fixture(scope="module")
def lab() -> Iterator[DoubleVlanLab]:
    the_lab = DoubleVlanLab()
    the_lab.down()
    try:
        yield the_lab
    finally:
        the_lab.down()


def test_a_drill_leaves_a_lab_the_user_brought_up_running(
    lab: DoubleVlanLab, tmp_path: Path
) -> None:
    up = cli("lab", "up", "double-vlan")
    assert up.returncode == 0, up.stderr
    keys, pids, mode = (lab.run_dir / "known_hosts").read_bytes(), sshd_pids(lab), lab.status().mode
    assert all(pids.values())

    out = cli("drill", "double-vlan", "--autopilot", "--journal", str(tmp_path / "j.jsonl"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == "diagnosis: vlan-on-vlan"
    assert f"  lab already up (faulty, mode {mode}): used as it is, left up afterwards" in lines
    assert "  lab double-vlan left up, as the drill found it (faulty)" in lines

    status = cli("lab", "status", "double-vlan")
    assert status.stdout.splitlines()[0] == f"lab double-vlan: running, mode {mode}, faulty"
    assert sshd_pids(lab) == pids  # the same sshd processes: nothing was rebuilt
    assert (lab.run_dir / "known_hosts").read_bytes() == keys


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (
            ["--healthy"],
            "drill double-vlan: the lab is up faulty; "
            "run `cloudtales lab down double-vlan` or drop --healthy",
        ),
        (
            ["--surprise", "--surprise-within", "1"],
            "drill double-vlan: the lab is up faulty and --surprise would change it; "
            "run `cloudtales lab down double-vlan` first or drop --surprise",
        ),
    ],
)
def test_a_drill_refuses_a_lab_up_in_the_other_health(
    lab: DoubleVlanLab, flags: list[str], said: str
) -> None:
    assert lab.status().running, "the first test left the lab up"
    pids = sshd_pids(lab)
    out = cli("drill", "double-vlan", "--autopilot", *flags)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [f"cloudtales: error: {said}"]
    assert out.stdout == ""
    status = lab.status()
    assert (status.running, status.healthy) == (True, False)
    assert sshd_pids(lab) == pids


def test_a_drill_takes_down_only_what_it_brought_up(lab: DoubleVlanLab) -> None:
    lab.down()
    out = cli("drill", "double-vlan", "--healthy", "--autopilot")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == "diagnosis: path-mtu-ok"
    assert "  lab double-vlan down" in lines
    status = cli("lab", "status", "double-vlan")
    assert status.stdout.splitlines()[0] == "lab double-vlan: not running"
    assert netns.namespaces(NS_PREFIX) == []


def test_a_drill_refuses_a_lab_up_with_another_fault() -> None:
    """The metadata lab up with its default fault: a drill asking for the other fault
    would be scored against the wrong diagnosis, so it refuses and touches nothing."""
    up = cli("lab", "up", "metadata")
    try:
        assert up.returncode == 0, up.stderr
        mode = cli("lab", "status", "metadata").stdout.splitlines()[0]
        out = cli("drill", "metadata", "--fault", "secret-mismatch", "--autopilot")
        assert out.returncode == 2
        assert out.stderr.splitlines() == [
            "cloudtales: error: drill metadata: the lab is up with fault 'proxy-down', "
            "not 'secret-mismatch'; run `cloudtales lab down metadata` or use --fault proxy-down"
        ]
        assert out.stdout == ""
        assert cli("lab", "status", "metadata").stdout.splitlines()[0] == mode
    finally:
        cli("lab", "down", "metadata")
