"""The "The Issue" lab, for real: dnsmasq, dhclient, iperf3, TAP devices, the qemu stand-in,
sshd, and the engine's checks over SSH against it.

The tests run in file order against one module-scoped lab: faulty first (The Issue
happens, the tale's recovery), then the healthy rebuild, then idempotency and teardown.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.checks.base import CheckContext
from engine.checks.registry import get_check_type
from engine.errors import CloudtalesError
from engine.remote.factory import make_runner
from engine.remote.inventory import load_inventory
from engine.results import CheckResult
from labs.core import netns
from labs.core.base import Lab
from labs.core.registry import LABS
from labs.the_issue.hosts import INSTANCE_IP, NS_PREFIX, instance_address, tap_drops
from labs.the_issue.lab import TheIssueLab
from labs.the_issue.qemu_bridge_bug_emulator import read_state
from tests.labs.conftest import fresh_lab, leftovers, running_faulty


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


async def run_check(lab: TheIssueLab, name: str, hosts: list[str], **params: Any) -> CheckResult:
    inventory = load_inventory(lab.inventory_path())
    ctype = get_check_type(name)
    runner = make_runner(inventory)
    ctx = CheckContext(runner, inventory, [inventory.host(h) for h in hosts], {}, 90.0)
    try:
        return await ctype.run(ctx, ctype.params.model_validate(params))
    finally:
        await runner.close()


@pytest.fixture(scope="module")
def lab() -> Iterator[TheIssueLab]:
    yield from fresh_lab("the-issue", TheIssueLab)


# ---------------------------------------------------------------- faulty lab


@pytest.mark.lab
def test_up_leaves_the_instance_bound_under_load_with_the_tap_stalled(lab: TheIssueLab) -> None:
    running_faulty(lab, "tap-emulated-qemu")
    state = read_state(lab.emulator_state_path)
    assert state is not None
    assert state.stalled
    assert state.mode == "faulty"
    assert state.peak_rate_to_guest > 2e6  # the nightly backup ran at full speed first
    assert instance_address() == INSTANCE_IP  # the lease is still valid
    assert lab.dhclient_pid() is not None
    first = tap_drops()
    assert first is not None
    wait_until(lambda: (tap_drops() or 0) > first, 5, "the tap's TX dropped counter to grow")
    inv = load_inventory(lab.inventory_path())
    assert sorted(inv.hosts) == ["compute", "controller", "instance"]
    assert inv.host("instance").vars["dhcp_iface"] == "eth0"
    assert inv.host("compute").vars["tap_iface"] == "tap0"


@pytest.mark.lab
async def test_the_issue_caught_in_action_from_both_ends(lab: TheIssueLab) -> None:
    result = await run_check(
        lab, "dhcp_capture", ["instance", "controller"], client="instance", server="controller"
    )
    assert result.outcome == "replies_lost", result.summary
    facts = result.facts
    assert facts["replies_received"] == 0
    assert isinstance(facts["server_replies"], int)
    assert facts["server_replies"] >= 3
    assert facts["lost_after"] == "controller:br100"
    acks = [line for line in facts["delivery"] if " ACK, " in line]  # type: ignore[union-attr]
    assert acks
    assert acks[0].endswith("instance:eth0 received 0")
    assert facts["client_gave_up"] is True
    # dhclient -1 really gave up: no process, no address
    wait_until(lambda: lab.dhclient_pid() is None, 10, "dhclient to exit")
    assert instance_address() is None
    log = lab.dhclient_log.read_text()
    assert "DHCPREQUEST for 10.0.0.5 on eth0 to 10.0.0.1 port 67" in log
    assert "Unable to obtain a lease on first try.  Exiting." in log


@pytest.mark.lab
async def test_read_only_checks_see_what_the_tale_saw(lab: TheIssueLab) -> None:
    client = await run_check(lab, "dhcp_client", ["instance"])
    assert client.outcome == "client_gone", client.summary
    lease = await run_check(lab, "dhcp_lease_time", ["controller"])
    assert (lease.outcome, lease.facts["lease_seconds"], lease.facts["renew_seconds"]) == (
        "short",
        120,
        60,
    )
    tap = await run_check(lab, "tap_traffic", ["compute"], interval=1)
    assert tap.outcome in ("drops_now", "drops_before"), tap.summary
    qemu = await run_check(lab, "qemu_versions", ["compute"])
    assert qemu.outcome in ("not_installed", "not_listed", "known_bad")
    assert qemu.facts["kernel"]


@pytest.mark.lab
def test_networking_restart_brings_it_back(lab: TheIssueLab) -> None:
    """The tale: "/etc/init.d/networking restart brings everything back up"."""
    ns = f"{NS_PREFIX}instance"
    netns.ip("link", "set", "dev", "eth0", "down", ns=ns)
    netns.ip("link", "set", "dev", "eth0", "up", ns=ns)
    wait_until(
        lambda: (s := read_state(lab.emulator_state_path)) and s.guest_resets == 1,
        5,
        "the qemu stand-in to see the NIC reset",
    )
    d = lab.run_dir / "instance"
    argv = ["dhclient", "-1", "-v", "-cf", str(d / "dhclient.conf"),
            "-pf", str(d / "again.pid"), "-lf", str(d / "again.leases"), "eth0"]  # fmt: skip
    got = subprocess.run(netns.in_ns(ns, argv), capture_output=True, text=True, timeout=30)
    assert "bound to 10.0.0.5" in got.stderr, got.stderr
    assert instance_address() == INSTANCE_IP
    pid = int((d / "again.pid").read_text())
    netns.stop_pids([pid])


# ---------------------------------------------------------------- healthy lab


@pytest.mark.lab
async def test_healthy_rebuild_renews_under_the_same_load(lab: TheIssueLab) -> None:
    said: list[str] = []
    info = lab.up(healthy=True, progress=said.append)
    assert info.healthy
    assert "removing the previous lab" in said
    state = read_state(lab.emulator_state_path)
    assert state is not None
    assert (state.mode, state.stalled) == ("fixed", False)
    assert state.high_for >= 6  # the same load the faulty qemu stalls under
    result = await run_check(
        lab, "dhcp_capture", ["instance", "controller"], client="instance", server="controller"
    )
    assert result.outcome == "replies_delivered", result.summary
    assert result.facts["replies_lost"] == 0
    tap = await run_check(lab, "tap_traffic", ["compute"], interval=1)
    assert tap.outcome == "no_drops", tap.summary
    assert isinstance(tap.facts["to_guest_bytes_per_s"], int)
    assert tap.facts["to_guest_bytes_per_s"] > 1_000_000
    assert lab.dhclient_pid() is not None


@pytest.mark.lab
def test_up_twice_is_idempotent(lab: TheIssueLab) -> None:
    pid = lab.dhclient_pid()
    said: list[str] = []
    lab.up(healthy=True, progress=said.append)
    assert said == ["lab already up"]
    assert lab.dhclient_pid() == pid


# ---------------------------------------------------------------- teardown


@pytest.mark.lab
def test_down_removes_everything_and_then_is_a_no_op(lab: TheIssueLab) -> None:
    state = read_state(lab.emulator_state_path)
    assert state is not None
    removed = lab.down()
    assert f"qemu stand-in pid {state.pid}" in removed
    assert leftovers(lab) == []
    assert not netns.pid_alive(state.pid)
    assert not lab.run_dir.exists()
    assert not lab.status().running
    assert lab.down() == []


# ---------------------------------------------------------------- no lab needed


def test_registry_knows_the_issue() -> None:
    assert isinstance(LABS["the-issue"], Lab)
    assert Path(__file__).name == "test_the_issue_lab.py"


def test_not_root_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("labs.core.netns.os.geteuid", lambda: 1000)
    with pytest.raises(CloudtalesError, match=r"needs root"):
        TheIssueLab().up()
