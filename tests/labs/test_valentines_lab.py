"""The Valentine's Day lab, for real: namespaces, a guest bridge sending BPDUs, the
BPDU-guard switch emulators, the bond stand-in, sshd, tcpdump, libvirt's test driver
and ebtables.

The tests run in file order against one module-scoped lab: faulty first (what the
tale's operator saw, then the engine's walk, then the fix), then idempotency, the
healthy rebuild and teardown.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest

from engine.parsers.libvirt_interfaces import parse_domain_xml
from engine.parsers.proc_bonding import parse_proc_bonding
from engine.parsers.switch_log import parse_switch_log
from engine.playbook.graph import load_valid_graph
from engine.playbook.loader import load_playbook
from engine.remote.factory import make_runner
from engine.remote.inventory import load_inventory
from engine.session import Session
from labs.core import netns
from labs.core.registry import LABS
from labs.valentines.lab import ValentinesLab
from labs.valentines.plan import CENTOS, COMPUTE, NS_PREFIX, ROOT_PREFIX, SWITCHES
from tests.labs.conftest import fresh_lab

Capture = Callable[[str, str], Any]  # the `capture` fixture in conftest.py
PLAYBOOK = Path(__file__).resolve().parents[2] / "playbooks" / "valentines.yaml"
TALE_BPDUGUARD = (
    "Stp: %SPANTREE-4-BLOCK_BPDUGUARD: Received BPDU packet on Port-Channel35 with BPDU "
    "guard enabled. Disabling interface. (source mac fa:16:3e:24:e7:22)"
)


def in_compute(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        netns.in_ns(COMPUTE.netns, list(argv)), capture_output=True, text=True, timeout=20
    )


def links(ns: str) -> dict[str, dict[str, Any]]:
    out = netns.ip("-j", "-d", "link", "show", ns=ns).stdout
    return {link["ifname"]: link for link in json.loads(out)}


def carrier(ns: str, dev: str) -> bool:
    return "LOWER_UP" in links(ns)[dev]["flags"]


def ssh(lab: ValentinesLab, address: str, command: str) -> subprocess.CompletedProcess[str]:
    run_dir = lab.run_dir
    argv = ["ssh", "-i", str(run_dir / "id_ed25519"),
            "-o", f"UserKnownHostsFile={run_dir / 'known_hosts'}",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=5", f"root@{address}", command]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=20)


def poll(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)


def walk(lab: ValentinesLab, tmp_path: Path) -> Session:
    inventory = load_inventory(lab.inventory_path())
    session = Session.start(
        load_valid_graph(), inventory, make_runner(inventory), "compute-node-down-bond-down",
        tmp_path / "journal.jsonl",
    )  # fmt: skip

    async def go() -> None:
        try:
            await session.autopilot()
        finally:
            await session.close()

    asyncio.run(go())
    return session


def leftovers() -> list[str]:
    found = netns.namespaces(NS_PREFIX) + netns.links(prefix=ROOT_PREFIX)
    found += [str(p) for p in Path("/etc/netns").glob(f"{NS_PREFIX}*")]
    return found


def bpdu_drops() -> int:
    """Packets the remedy's nftables rule dropped (BPDUs from the taps)."""
    out = in_compute("nft", "list", "chain", "bridge", "bpdu_filter", "forward").stdout
    return sum(int(m) for m in re.findall(r"01:80:c2:00:00:00 counter packets (\d+)", out))


@pytest.fixture(scope="module")
def lab() -> Iterator[ValentinesLab]:
    yield from fresh_lab("valentines", ValentinesLab)


# ---------------------------------------------------------------- faulty lab: what the tale saw


@pytest.mark.lab
def test_up_gives_a_faulty_lab_with_both_switch_ports_err_disabled(lab: ValentinesLab) -> None:
    status = lab.status()
    assert status.running, status.details
    assert (status.mode, status.healthy) == ("bond-standin", False)
    assert "compute bond0: NO-CARRIER (DOWN)" in status.details
    for sw in SWITCHES:
        state = lab.switch_state(sw)
        assert (state["errdisabled"], state["cause"]) == (True, "bpduguard")
        assert state["source_mac"] == CENTOS.mac
        assert state["bpdu_kind"] == "STP"
    inv = load_inventory(lab.inventory_path())
    assert sorted(inv.hosts) == ["compute", "sw1", "sw2"]
    compute = inv.host("compute")
    assert compute.vars["uplink"] == "bond0"
    assert compute.vars["compute_name"] == "server35"
    assert compute.vars["libvirt_uri"] == f"test://{lab.paths.node_xml}"
    assert [h.name for h in inv.by_role("switch")] == ["sw1", "sw2"]


@pytest.mark.lab
def test_bond0_is_down_on_both_members_while_the_1g_nic_is_up(lab: ValentinesLab) -> None:
    ls = links(COMPUTE.netns)
    assert "NO-CARRIER" in ls["bond0"]["flags"]
    assert ls["bond0"]["operstate"] == "DOWN"
    assert not carrier(COMPUTE.netns, "eth0")
    assert not carrier(COMPUTE.netns, "eth1")
    assert carrier(COMPUTE.netns, "eth2")
    status = parse_proc_bonding(lab.paths.bond_status.read_text())
    assert (status.mode, status.mii_status, status.active_slave) == ("active-backup", "down", None)
    assert [(s.name, s.mii_status, s.link_failure_count) for s in status.slaves] == [
        ("eth0", "down", 1),
        ("eth1", "down", 1),
    ]
    assert [s.permanent_hwaddr for s in status.slaves] == [sw.member_mac for sw in SWITCHES]


@pytest.mark.lab
def test_ssh_to_the_compute_works_over_its_management_nic(lab: ValentinesLab) -> None:
    res = ssh(lab, COMPUTE.mgmt_ip, f"hostname; cat /etc/libvirt/qemu/{CENTOS.domain}.xml")
    assert res.returncode == 0, res.stderr
    host, _, xml = res.stdout.partition("\n")
    assert host == "compute"
    dom = parse_domain_xml(xml, "compute")
    assert (dom.display_name, dom.nics[0].mac, dom.nics[0].target) == (
        "centos-test",
        CENTOS.mac,
        CENTOS.tap,
    )


@pytest.mark.lab
def test_each_switch_logged_the_tales_lines_readable_over_ssh(lab: ValentinesLab) -> None:
    inv = load_inventory(lab.inventory_path())
    for sw in SWITCHES:
        res = ssh(lab, sw.mgmt_ip, f"cat {inv.host(sw.name).vars['switch_log']}")
        assert res.returncode == 0, res.stderr
        assert f"{sw.hostname} {TALE_BPDUGUARD}\n" in res.stdout
        assert "%ETH-4-ERRDISABLE: bpduguard error detected on Port-Channel35.\n" in res.stdout
        events = parse_switch_log(res.stdout)
        kinds = [e.kind for e in events]
        assert kinds.count("bpduguard") == 1
        guard = next(e for e in events if e.kind == "bpduguard")
        assert (guard.host, guard.interface, guard.source_mac) == (
            sw.hostname,
            "Port-Channel35",
            CENTOS.mac,
        )


@pytest.mark.lab
def test_the_guest_keeps_sending_bpdus_on_its_tap(lab: ValentinesLab, capture: Capture) -> None:
    cap = capture(COMPUTE.netns, CENTOS.tap)
    line = cap.wait_for(rf"{CENTOS.mac} > 01:80:c2:00:00:00.*STP 802\.1d, Config", timeout=6)
    assert f"bridge-id 8000.{CENTOS.mac}" in line


@pytest.mark.lab
def test_libvirt_test_driver_names_the_instance_behind_the_mac(lab: ValentinesLab) -> None:
    conn = libvirt.openReadOnly(
        load_inventory(lab.inventory_path()).host("compute").vars["libvirt_uri"]
    )
    try:
        doms = [parse_domain_xml(d.XMLDesc(0)) for d in conn.listAllDomains()]
    finally:
        conn.close()
    owner = {nic.mac: d.display_name for d in doms for nic in d.nics}
    assert owner[CENTOS.mac] == "centos-test"


@pytest.mark.lab
def test_the_walk_names_the_instance(lab: ValentinesLab, tmp_path: Path) -> None:
    session = walk(lab, tmp_path)
    w = session.walker
    assert w.diagnosis is not None
    assert w.diagnosis.id == "guest-bpdu-bpduguard"
    assert w.path[1:5] == ["vd-bond-state", "vd-switch-log", "vd-bpdu-capture", "vd-bpdu-source"]
    facts = w.facts
    assert facts["vd-bond-state.outcome"] == "all_slaves_down"
    assert facts["vd-bond-state.other_links_up"] == ["eth2"]
    assert facts["vd-switch-log.bpduguard_macs"] == [CENTOS.mac]
    assert facts["vd-bpdu-capture.capture_mode"] == "taps"
    assert facts["vd-bpdu-capture.source_macs"] == [CENTOS.mac]
    assert facts["vd-bpdu-source.instance"] == "centos-test"
    assert facts["vd-bpdu-source.instance_uuid"] == CENTOS.uuid
    assert facts["vd-bpdu-source.tap"] == CENTOS.tap
    assert facts["vd-bpdu-source.compute"] == "server35"
    assert str(facts["vd-bpdu-source.domain_source"]).startswith("libvirt test://")
    assert ("vd-bpdu-source.instance", "centos-test") in w.evidence()


@pytest.mark.lab
def test_the_remedy_filters_bpdus_and_recovered_ports_stay_up(lab: ValentinesLab) -> None:
    # for real, in the lab only. This kernel has no legacy ebtables tables (and Debian's
    # ebtables here is ebtables-legacy), so the nftables form of the same filter runs.
    remedies = {r.id: r for r in load_playbook(PLAYBOOK).playbook.remedies}
    ebtables = remedies["vd-drop-guest-bpdus"].commands
    assert "ebtables -A FORWARD -i tap+ -d 01:80:c2:00:00:00 -j DROP" in ebtables
    for command in remedies["vd-drop-guest-bpdus-nft"].commands:
        res = in_compute("sh", "-c", command)
        assert res.returncode == 0, res.stderr
    dropped = bpdu_drops()
    for sw in SWITCHES:
        lab.recover_switch_port(sw)
    poll(lambda: carrier(COMPUTE.netns, "bond0"), 5, "bond0 back up after errdisable recovery")
    poll(lambda: bpdu_drops() > dropped, 6, "the filter dropping the guest's next BPDU")
    assert carrier(COMPUTE.netns, "bond0")
    assert not any(lab.switch_state(sw)["errdisabled"] for sw in SWITCHES)
    # both members recovered; which one the bond picks first depends on link timing,
    # and the switches are not linked to each other: ping the one behind the active member
    active = parse_proc_bonding(lab.paths.bond_status.read_text()).active_slave
    behind = next(sw for sw in SWITCHES if sw.member == active)
    poll(
        lambda: in_compute("ping", "-c1", "-W1", behind.svi_ip).returncode == 0,
        10,
        f"the compute reaching {behind.name} again through the recovered bond ({active})",
    )


@pytest.mark.lab
def test_up_twice_is_idempotent(lab: ValentinesLab) -> None:
    said: list[str] = []
    info = lab.up(progress=said.append)
    assert said == ["lab already up"]
    assert (info.mode, info.healthy) == ("bond-standin", False)


# ---------------------------------------------------------------- healthy lab


@pytest.mark.lab
def test_healthy_rebuild_keeps_bond0_up_and_the_walk_says_so(
    lab: ValentinesLab, tmp_path: Path
) -> None:
    said: list[str] = []
    info = lab.up(healthy=True, progress=said.append)
    assert info.healthy
    assert "removing the previous lab" in said
    assert carrier(COMPUTE.netns, "bond0")
    assert not any(lab.switch_state(sw)["errdisabled"] for sw in SWITCHES)
    ping = in_compute("ping", "-c1", "-W2", SWITCHES[0].svi_ip)
    assert ping.returncode == 0, ping.stdout
    session = walk(lab, tmp_path)
    assert session.walker.diagnosis is not None
    assert session.walker.diagnosis.id == "vd-bond-up-not-this-tale"


# ---------------------------------------------------------------- teardown


class SimulatedCrashError(Exception):
    pass


@pytest.mark.lab
def test_down_after_a_half_built_lab_then_down_is_a_no_op(lab: ValentinesLab) -> None:
    lab.down()

    def crash(message: str) -> None:
        if message.startswith("starting sshd"):  # switches, bond and guests are running
            raise SimulatedCrashError(message)

    with pytest.raises(SimulatedCrashError):
        lab.up(progress=crash)
    assert not lab.status().running
    assert leftovers()
    removed = lab.down()
    assert f"namespace {COMPUTE.netns}" in removed
    assert leftovers() == []
    assert not lab.run_dir.exists()
    assert lab.down() == []


def test_registry_knows_valentines() -> None:
    assert LABS["valentines"].title == "The Valentine's Day Compute Node Massacre"
