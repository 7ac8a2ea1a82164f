"""The security-group lab, for real: neutron's iptables_hybrid rules on a bridged tap
(br_netfilter + physdev), conntrack, tcpdump on both sides of the tap, and the drills.

The tests run in file order against one module-scoped lab: faulty first, then the
healthy rebuild, then teardown. Drills run as the CLI does, bounded by the 60 s every
drill must finish in (a subprocess timeout, not a timed assertion).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from labs.core import netns
from labs.security_group import plan
from labs.security_group.lab import SecurityGroupLab, fallback_drops, port_allows_ssh
from tests.labs.conftest import fresh_lab, lab_cli, leftovers, network_lab_inventory

Capture = Callable[[str, str], Any]  # the `capture` fixture in conftest.py

pytestmark = pytest.mark.lab
SYN = rf"{plan.INSTANCE_IP}\.22: Flags \[S\]"


def connect_from_outside(seconds: int = 2) -> int:
    """bash's /dev/tcp connect to the instance's port 22: 0 connected, 124 timed out."""
    script = f"exec 3<>/dev/tcp/{plan.INSTANCE_IP}/22"
    argv = netns.in_ns(plan.OUTSIDE.netns, ["timeout", str(seconds), "bash", "-c", script])
    return subprocess.run(argv, capture_output=True, check=False, timeout=10).returncode


def conntrack_to_port() -> list[str]:
    argv = netns.in_ns(plan.COMPUTE.netns, ["conntrack", "-L", "-p", "tcp", "--dport", "22"])
    out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10).stdout
    return [ln for ln in out.splitlines() if f"dst={plan.INSTANCE_IP}" in ln]


@pytest.fixture(scope="module")
def lab() -> Iterator[SecurityGroupLab]:
    yield from fresh_lab("security-group", SecurityGroupLab)


# ---------------------------------------------------------------- faulty


def test_registered_and_up_with_the_network_labs_inventory_shape(lab: SecurityGroupLab) -> None:
    inv = network_lab_inventory(lab, plan.MODE)
    assert inv.host("compute").vars["tap_iface"] == plan.TAP
    assert inv.host("compute").vars["bridge"] == plan.QBR
    assert not port_allows_ssh()


def test_the_syn_reaches_the_bridge_not_the_instance_and_the_drop_counts(
    lab: SecurityGroupLab, capture: Capture
) -> None:
    ping = netns.run(netns.in_ns(plan.OUTSIDE.netns, ["ping", "-c1", "-W1", plan.INSTANCE_IP]))
    assert "1 received" in ping.stdout  # ICMP is allowed
    bridge = capture(plan.COMPUTE.netns, plan.QBR)
    inside = capture(plan.INSTANCE.netns, "eth0")
    before = fallback_drops()
    assert before is not None
    assert connect_from_outside() == 124  # filtered: no RST, no SYN-ACK
    bridge.wait_for(SYN)
    after = fallback_drops()
    assert after is not None
    assert after > before
    # a ping after the SYNs (ICMP is allowed): every frame the instance got before it is read
    netns.run(netns.in_ns(plan.OUTSIDE.netns, ["ping", "-c1", "-W1", plan.INSTANCE_IP]))
    inside.wait_for(r"ICMP echo request")
    assert inside.lines
    assert not [ln for ln in inside.lines if "Flags [S]" in ln]
    flows = conntrack_to_port()
    assert flows
    assert all("SYN_SENT" in f and "[UNREPLIED]" in f for f in flows)


def test_drill_ends_in_security_group_blocks_port(lab: SecurityGroupLab) -> None:
    out = lab_cli("drill", "security-group", "--autopilot")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.rstrip().endswith("diagnosis: security-group-blocks-port")
    assert "0 in instance eth0" in out.stdout


# ---------------------------------------------------------------- healthy


def test_healthy_lets_ssh_in(lab: SecurityGroupLab, capture: Capture) -> None:
    lab.up(healthy=True)
    assert port_allows_ssh()
    inside = capture(plan.INSTANCE.netns, "eth0")
    assert connect_from_outside() == 0
    inside.wait_for(SYN)


def test_healthy_drill_never_ends_in_the_blocked_port(lab: SecurityGroupLab) -> None:
    out = lab_cli("drill", "security-group", "--healthy", "--autopilot")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.rstrip().splitlines()[-1] == "diagnosis: port-open"


def test_surprise_injects_the_fault_in_place(lab: SecurityGroupLab) -> None:
    keys = (lab.run_dir / "known_hosts").read_bytes()
    injection = lab.inject_fault()
    assert not injection.rebuilt
    assert "lost its tcp/22 rule" in injection.how
    status = lab.status()
    assert status.running, status.details
    assert status.healthy is False
    assert not port_allows_ssh()
    assert connect_from_outside() == 124
    assert (lab.run_dir / "known_hosts").read_bytes() == keys  # same hosts, same keys


def test_down_leaves_nothing(lab: SecurityGroupLab) -> None:
    lab.down()
    assert leftovers(lab) == []
    assert not lab.run_dir.exists()
