"""The Double VLAN lab, for real: namespaces, tc-BPF tags, sshd, ping and tcpdump.

The tests run in file order against one module-scoped lab: faulty first, then
idempotency, then the healthy rebuild, then the teardown cases.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from engine.errors import CloudtalesError
from engine.remote.inventory import load_inventory
from labs.core import netns
from labs.core.base import Lab
from labs.core.registry import LABS, get_lab
from labs.double_vlan import vlan_bpf
from labs.double_vlan.lab import HOSTS, MGMT_BRIDGE, NS_PREFIX, DoubleVlanLab
from tests.labs.conftest import fresh_lab, leftovers, running_faulty

Capture = Callable[[str, str], Any]  # the `capture` fixture in conftest.py

INSTANCE_IP = "10.0.100.5"
DOUBLE_TAGGED_REPLY = (
    r"vlan 20, p 0, ethertype 802\.1Q \(0x8100\), vlan 100, p 0, ethertype IPv4 .*"
    rf"{INSTANCE_IP} > 203\.0\.113\.10: ICMP echo reply"
)


def ping(size: int) -> subprocess.CompletedProcess[str]:
    argv = ["ip", "netns", "exec", "ct-dv-outside",
            "ping", "-M", "do", "-c1", "-W1", "-s", str(size), INSTANCE_IP]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)


def ssh(lab: DoubleVlanLab, address: str, command: str) -> subprocess.CompletedProcess[str]:
    run_dir = lab.run_dir
    argv = ["ssh", "-i", str(run_dir / "id_ed25519"),
            "-o", f"UserKnownHostsFile={run_dir / 'known_hosts'}",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=5", f"root@{address}", command]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=20)


def sshd_pids(lab: DoubleVlanLab) -> dict[str, int | None]:
    return {h.name: netns.sshd_pid(lab.run_dir, h.name) for h in HOSTS}


@pytest.fixture(scope="module")
def lab() -> Iterator[DoubleVlanLab]:
    yield from fresh_lab("double-vlan", DoubleVlanLab)


# ---------------------------------------------------------------- faulty lab


@pytest.mark.lab
def test_up_gives_a_running_faulty_lab_with_an_inventory(lab: DoubleVlanLab) -> None:
    status = running_faulty(lab, "tc-bpf")
    assert any("compute /etc/nova/nova.conf: vlan_interface=vlan20" in d for d in status.details)

    inv = load_inventory(lab.inventory_path())
    assert sorted(inv.hosts) == ["compute", "controller", "instance", "outside"]
    assert inv.ssh.username == "root"
    assert inv.ssh.client_keys == [str(lab.run_dir / "id_ed25519")]
    compute, instance = inv.host("compute"), inv.host("instance")
    assert (compute.address, compute.port, compute.roles) == ("10.250.1.2", 22, ["compute"])
    assert compute.vars["ip"] is None
    assert compute.vars["uplink"] == "bond0"
    assert compute.vars["nova_conf"] == "/etc/nova/nova.conf"
    assert instance.vars["ip"] == INSTANCE_IP
    assert instance.vars["capture_iface"] == "eth0"
    assert inv.host("outside").vars["ip"] == "203.0.113.10"
    assert {h.vars["mtu"] for h in inv.hosts.values()} == {1500}
    assert {h.vars["lab_mode"] for h in inv.hosts.values()} == {"tc-bpf"}


@pytest.mark.lab
def test_faulty_lab_passes_1468_and_loses_1472(lab: DoubleVlanLab) -> None:
    small = ping(1468)  # 1496 bytes of IP + 14 + 8 (two tags) = 1518 on the wire
    assert small.returncode == 0, small.stdout
    assert "1 received" in small.stdout
    big = ping(1472)  # 1500 bytes of IP: 1522 on the wire, over the hop's 1518
    assert big.returncode != 0, big.stdout
    assert "0 received" in big.stdout


@pytest.mark.lab
def test_compute_uplink_sends_vlan_100_inside_vlan_20(lab: DoubleVlanLab, capture: Capture) -> None:
    cap = capture("ct-dv-compute", "bond0")
    assert ping(1468).returncode == 0
    reply = cap.wait_for(DOUBLE_TAGGED_REPLY)
    assert "length 1518:" in reply
    # what the controller sends carries the tenant tag only
    request = cap.wait_for(r"ICMP echo request")
    assert "vlan 100, p 0, ethertype IPv4" in request
    assert "vlan 20" not in request


@pytest.mark.lab
def test_controller_captures_the_oversize_reply_it_then_drops(
    lab: DoubleVlanLab, capture: Capture
) -> None:
    drops_before = vlan_bpf.clsact_drops("ct-dv-controller", "bond0")
    assert drops_before is not None
    cap = capture("ct-dv-controller", "bond0")
    assert ping(1472).returncode != 0
    reply = cap.wait_for(DOUBLE_TAGGED_REPLY)
    assert "length 1522:" in reply
    drops_after = vlan_bpf.clsact_drops("ct-dv-controller", "bond0")
    assert drops_after is not None
    assert drops_after > drops_before


@pytest.mark.lab
def test_ssh_into_compute_reads_its_own_nova_conf(lab: DoubleVlanLab) -> None:
    compute = ssh(lab, "10.250.1.2", "hostname; cat /etc/nova/nova.conf")
    assert compute.returncode == 0, compute.stderr
    assert compute.stdout.startswith("compute\n")
    assert "vlan_interface=vlan20\n" in compute.stdout
    controller = ssh(lab, "10.250.1.1", "grep vlan_interface /etc/nova/nova.conf")
    assert controller.stdout == "vlan_interface=bond0\n", controller.stderr


@pytest.mark.lab
def test_up_twice_is_idempotent(lab: DoubleVlanLab) -> None:
    before = sshd_pids(lab)
    assert None not in before.values()
    said: list[str] = []
    info = lab.up(progress=said.append)
    assert said == ["lab already up"]
    assert (info.mode, info.healthy, info.inventory_path) == ("tc-bpf", False, lab.inventory_path())
    assert sshd_pids(lab) == before
    assert ping(1468).returncode == 0


# ---------------------------------------------------------------- healthy lab


@pytest.mark.lab
def test_healthy_rebuild_tags_once_and_passes_full_size(
    lab: DoubleVlanLab, capture: Capture
) -> None:
    said: list[str] = []
    info = lab.up(healthy=True, progress=said.append)
    assert info.healthy
    assert "removing the previous lab" in said
    assert "compiling tc-BPF vlan program" in said
    assert lab.status().running

    cap = capture("ct-dv-compute", "bond0")
    for size in (1468, 1472):
        result = ping(size)
        assert result.returncode == 0, (size, result.stdout)
    reply = cap.wait_for(
        r"length 1518: vlan 100, p 0, ethertype IPv4 .*ICMP echo reply.*length 1480"
    )
    assert "vlan 20" not in reply
    conf = ssh(lab, "10.250.1.2", "grep vlan_interface /etc/nova/nova.conf")
    assert conf.stdout == "vlan_interface=bond0\n", conf.stderr


# ---------------------------------------------------------------- teardown


class SimulatedCrashError(Exception):
    pass


@pytest.mark.lab
def test_down_after_a_half_built_lab(lab: DoubleVlanLab) -> None:
    lab.down()

    def crash_before_inventory(message: str) -> None:
        if message == "writing inventory":  # namespaces, tc-BPF and sshd are up by now
            raise SimulatedCrashError(message)

    with pytest.raises(SimulatedCrashError):
        lab.up(progress=crash_before_inventory)
    status = lab.status()
    assert not status.running
    assert any("did not finish" in d for d in status.details)
    pids = [p for p in sshd_pids(lab).values() if p is not None]
    assert len(pids) == 4
    # and a stray namespace with a process in it, as a crashed drill might leave
    netns.add_namespace(f"{NS_PREFIX}stray")
    sleeper = subprocess.Popen(["ip", "netns", "exec", f"{NS_PREFIX}stray", "sleep", "60"])
    try:
        removed = lab.down()
        assert sleeper.wait(timeout=5) != 0
    finally:
        sleeper.kill()
    assert f"namespace {NS_PREFIX}stray" in removed
    assert leftovers(lab) == []
    assert not any(netns.pid_alive(p) for p in pids)
    assert not lab.run_dir.exists()


@pytest.mark.lab
def test_down_removes_everything_and_then_is_a_no_op(lab: DoubleVlanLab) -> None:
    lab.up()
    pids = list(sshd_pids(lab).values())
    assert None not in pids
    assert leftovers(lab)
    removed = lab.down()
    assert f"link {MGMT_BRIDGE}" in removed
    assert leftovers(lab) == []
    assert not any(netns.pid_alive(p) for p in pids if p is not None)
    assert not lab.run_dir.exists()
    assert not lab.status().running
    assert lab.down() == []


# ---------------------------------------------------------------- no lab needed


def test_registry_knows_double_vlan_and_names_it_on_a_typo() -> None:
    assert isinstance(LABS["double-vlan"], Lab)
    with pytest.raises(CloudtalesError, match=r"^unknown lab 'x' \(known: .*\bdouble-vlan\b.*\)$"):
        get_lab("x")


def test_missing_tools_name_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns, "tool_path", lambda name: None if name == "clang" else name)
    with pytest.raises(CloudtalesError, match=r"^clang not found: apt install clang$"):
        vlan_bpf.require_toolchain()


def test_not_root_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("labs.core.netns.os.geteuid", lambda: 1000)
    with pytest.raises(CloudtalesError, match=r"needs root"):
        DoubleVlanLab().up()
