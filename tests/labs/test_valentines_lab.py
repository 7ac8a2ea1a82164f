"""The Valentine's Day lab, for real: namespaces, a guest bridge sending BPDUs, the
BPDU-guard switch emulators, the bond stand-in, sshd, tcpdump, libvirt's test driver,
ebtables, and the real OpenStack control plane behind the switches (nova-compute's
heartbeats cross bond0; nova's API lists the node down).

The tests run in file order against one module-scoped lab: faulty first (what the
tale's operator saw, then the engine's walk, then the fix), then idempotency, the
healthy rebuild and teardown.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
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
from labs.control_plane import cloud
from labs.core import netns
from labs.core.registry import LABS
from labs.valentines.lab import ValentinesLab
from labs.valentines.plan import (
    CENTOS,
    CLOUD,
    COMPUTE,
    COMPUTE_NAME,
    CONTROLLER,
    DATA_IP,
    NS_PREFIX,
    ROOT_PREFIX,
    SWITCHES,
    InstancePlan,
)
from tests.labs.conftest import fresh_lab

Capture = Callable[[str, str], Any]  # the `capture` fixture in conftest.py
REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "playbooks" / "valentines.yaml"
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


def centos(lab: ValentinesLab) -> InstancePlan:
    """centos-test as the lab booted it: nova's instance name and UUID."""
    return next(i for i in lab.instances() if i.display_name == CENTOS.display_name)


def nova_states(lab: ValentinesLab) -> dict[str, str]:
    """nova-compute host -> up/down, asked of the lab's real nova API (openstacksdk)."""
    return dict(cloud.compute_states(cloud.connect(lab.clouds_path, CLOUD)))


def investigate_server(
    lab: ValentinesLab, server: str, journal: Path
) -> subprocess.CompletedProcess[str]:
    """``investigate --cloud valentines-lab --server NAME`` as a user types it."""
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(lab.clouds_path)}
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", "--cloud", CLOUD, "investigate",
         "-i", str(lab.inventory_path()), "--server", server, "-s", "instance-unreachable",
         "--autopilot", "--journal", str(journal)],
        cwd=REPO, capture_output=True, text=True, timeout=120, env=env,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


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
    assert sorted(inv.hosts) == ["compute", "controller", "sw1", "sw2"]
    compute = inv.host("compute")
    assert compute.vars["uplink"] == "bond0"
    assert compute.vars["compute_name"] == compute.vars["os_host"] == "server35"
    assert inv.host("controller").vars["os_cloud"] == CLOUD
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
def test_nova_lists_the_compute_down_and_its_rpc_went_over_bond0(lab: ValentinesLab) -> None:
    assert nova_states(lab) == {COMPUTE_NAME: "down"}  # the real API, not a lab variable
    state = json.loads(lab.paths.state.read_text())["extra"]
    assert 0 < state["down_after_seconds"] < 90
    # the controller is behind the switches: the compute's only route to it is br100/bond0
    route = in_compute("ip", "-j", "route", "get", CONTROLLER.data_ip)
    assert [(r["dev"], r["prefsrc"]) for r in json.loads(route.stdout)] == [("br100", DATA_IP)]
    amqp: list[str] = []

    def amqp_from_compute() -> bool:  # kombu reconnects: wait for a connection to be listed
        amqp[:] = in_compute("ss", "-Htn", "dst", f"{CONTROLLER.data_ip}:5672").stdout.split()
        return bool(amqp)

    poll(amqp_from_compute, 20, "nova-compute's AMQP connection to the controller")
    assert f"{DATA_IP}:" in " ".join(amqp), amqp
    assert COMPUTE.mgmt_ip not in " ".join(amqp), amqp


@pytest.mark.lab
def test_ssh_to_the_compute_works_over_its_management_nic(lab: ValentinesLab) -> None:
    inst = centos(lab)
    assert re.fullmatch(r"instance-[0-9a-f]{8}", inst.domain)
    assert inst.uuid != CENTOS.uuid  # nova's
    res = ssh(lab, COMPUTE.mgmt_ip, f"hostname; cat /etc/libvirt/qemu/{inst.domain}.xml")
    assert res.returncode == 0, res.stderr
    host, _, xml = res.stdout.partition("\n")
    assert host == "compute"
    dom = parse_domain_xml(xml, "compute")
    assert (dom.name, dom.display_name, dom.nics[0].mac, dom.nics[0].target) == (
        inst.domain,
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
    assert w.path[1:6] == [
        "vd-bond-state", "vd-switch-log", "vd-bpdu-capture", "vd-bpdu-source", "vd-nova-services",
    ]  # fmt: skip
    facts = w.facts
    assert facts["vd-bond-state.outcome"] == "all_slaves_down"
    assert facts["vd-bond-state.other_links_up"] == ["eth2"]
    assert facts["vd-switch-log.bpduguard_macs"] == [CENTOS.mac]
    assert facts["vd-bpdu-capture.capture_mode"] == "taps"
    assert facts["vd-bpdu-capture.source_macs"] == [CENTOS.mac]
    assert facts["vd-bpdu-source.instance"] == "centos-test"
    assert facts["vd-bpdu-source.instance_uuid"] == centos(lab).uuid
    assert facts["vd-bpdu-source.instance_domain"] == centos(lab).domain
    assert facts["vd-bpdu-source.tap"] == CENTOS.tap
    assert facts["vd-bpdu-source.compute"] == "server35"
    assert str(facts["vd-bpdu-source.domain_source"]).startswith("libvirt test://")
    assert ("vd-bpdu-source.instance", "centos-test") in w.evidence()
    assert facts["vd-nova-services.outcome"] == "service_down"
    assert facts["vd-nova-services.down_host"] == COMPUTE_NAME
    assert int(str(facts["vd-nova-services.heartbeat_age"])) >= 15  # service_down_time
    assert ("vd-nova-services.down_host", COMPUTE_NAME) in w.evidence()


@pytest.mark.lab
def test_server_centos_test_resolves_through_the_api_and_libvirt_and_ends_in_the_tale(
    lab: ValentinesLab, tmp_path: Path
) -> None:
    journal = tmp_path / "server.jsonl"
    proc = investigate_server(lab, "centos-test", journal)
    out = proc.stdout.splitlines()
    inst = centos(lab)
    assert out[0].startswith(
        f"server centos-test ({inst.uuid}) in cloud {CLOUD}: on {COMPUTE_NAME} (inventory host "
        f"compute), instance {inst.domain}; via hypervisor server lists"
    ), proc.stdout + proc.stderr
    assert out[1] == (
        f"  nic {CENTOS.mac} tap {CENTOS.tap} (from libvirt domain {inst.domain} on compute)"
    )
    assert out[-1] == "diagnosis: guest-bpdu-bpduguard", proc.stdout + proc.stderr
    assert proc.returncode == 0
    evs = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    facts = {e["name"]: e["value"] for e in evs if e["type"] == "fact"}
    assert (facts["server.host"], facts["server.os_host"]) == ("compute", COMPUTE_NAME)
    assert (facts["server.tap"], facts["server.mac"]) == (CENTOS.tap, CENTOS.mac)
    nodes = [e["node"] for e in evs if e["type"] == "check_started"]
    assert nodes == [
        "iu-compute-uplink", "vd-switch-log", "vd-bpdu-capture", "vd-bpdu-source",
        "vd-nova-services",
    ]  # fmt: skip
    secrets = json.loads(lab.paths.state.read_text())["extra"]["secrets"].values()
    text = journal.read_text() + proc.stdout + proc.stderr
    assert [s for s in secrets if s in text] == []
    assert "gAAAA" not in text  # no fernet token


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
    assert nova_states(lab) == {COMPUTE_NAME: "up"}
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
