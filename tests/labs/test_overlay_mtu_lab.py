"""The overlay-mtu lab, for real: a kernel VXLAN over a 1500-byte underlay, real dnsmasq
and dhclient, the engine's checks over SSH, and the drills (own playbook and triage).

The tests run in file order against one module-scoped lab: faulty first, then the
healthy rebuild, then teardown. Drills run as the CLI does, bounded by the 60 s every
drill must finish in (a subprocess timeout, not a timed assertion).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from labs.core import netns
from labs.overlay_mtu import plan
from labs.overlay_mtu.lab import OverlayMtuLab
from tests.labs.conftest import fresh_lab, lab_cli, leftovers, network_lab_inventory, run_check

pytestmark = pytest.mark.lab
DIAGNOSIS = "overlay-mtu-exceeds-underlay"


def ping_from_instance(size: int) -> bool:
    argv = ["ping", "-n", "-M", "do", "-c", "1", "-W", "1", "-s", str(size), plan.OUTSIDE_IP]
    done = subprocess.run(
        netns.in_ns(plan.INSTANCE.netns, argv), capture_output=True, check=False, timeout=10
    )
    return done.returncode == 0


@pytest.fixture(scope="module")
def lab() -> Iterator[OverlayMtuLab]:
    yield from fresh_lab("overlay-mtu", OverlayMtuLab)


# ---------------------------------------------------------------- faulty


def test_registered_and_up_with_the_network_labs_inventory_shape(lab: OverlayMtuLab) -> None:
    inv = network_lab_inventory(lab, plan.MODE)
    assert inv.host("instance").vars["ip"] == plan.INSTANCE_IP
    assert inv.host("compute").vars["uplink"] == "bond0"
    assert inv.host("compute").vars["nova_conf"] == "/etc/nova/nova.conf"


def test_faulty_instance_keeps_1500_and_loses_only_large_packets(lab: OverlayMtuLab) -> None:
    assert lab.instance_mtu() == plan.UNDERLAY_MTU
    assert ping_from_instance(plan.NETWORK_MTU - 28)  # 1450 bytes of IP: fits
    assert not ping_from_instance(plan.NETWORK_MTU - 27)  # 1451: dropped before VXLAN


def test_checks_see_the_overlay_the_capture_and_the_missing_option(lab: OverlayMtuLab) -> None:
    links = run_check(lab, "overlay_links", ["compute"])
    assert links.outcome == "vxlan", links.summary
    assert (links.facts["vni"], links.facts["dstport"], links.facts["underlay"]) == (
        5,
        4789,
        "bond0",
    )
    assert links.facts["overlay_mtu"] == plan.NETWORK_MTU
    cap = run_check(
        lab, "vxlan_capture", ["compute"], traffic_from="instance", source_ip=plan.INSTANCE_IP,
        target=plan.OUTSIDE_IP, underlay="bond0", sizes=[56, 1422, 1472],
    )  # fmt: skip
    assert cap.outcome == "oversize_lost", cap.summary
    assert cap.facts["overhead"] == plan.VXLAN_OVERHEAD  # seen on the wire: outer - inner
    assert cap.facts["largest_inner"] == plan.NETWORK_MTU
    assert cap.facts["lost_sizes"] == [1500]
    option = run_check(lab, "dhcp_mtu_option", ["controller"])
    assert option.outcome == "not_advertised", option.summary


def test_drill_ends_in_the_overlay_diagnosis(lab: OverlayMtuLab) -> None:
    out = lab_cli("drill", "overlay-mtu", "--autopilot")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.rstrip().endswith(f"diagnosis: {DIAGNOSIS}")
    assert lab.status().running  # a lab the user had up stays up


def test_triage_routes_to_the_overlay_diagnosis(lab: OverlayMtuLab) -> None:
    out = lab_cli("drill", "overlay-mtu", "--autopilot", "--symptom", "instance-unreachable")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "om-overlay-links -> vxlan" in out.stdout
    assert out.stdout.rstrip().endswith(f"diagnosis: {DIAGNOSIS}")


# ---------------------------------------------------------------- healthy


def test_healthy_advertises_1450_and_large_packets_fit(lab: OverlayMtuLab) -> None:
    lab.up(healthy=True)
    assert lab.instance_mtu() == plan.NETWORK_MTU  # option 26 applied by dhclient-script
    assert ping_from_instance(plan.NETWORK_MTU - 28)
    option = run_check(lab, "dhcp_mtu_option", ["controller"])
    assert option.outcome == "advertised", option.summary
    assert option.facts["advertised_mtu"] == str(plan.NETWORK_MTU)


@pytest.mark.parametrize("symptom", ["tenant-large-transfers-stall", "instance-unreachable"])
def test_healthy_drills_never_end_in_the_overlay_diagnosis(
    lab: OverlayMtuLab, symptom: str
) -> None:
    out = lab_cli("drill", "overlay-mtu", "--healthy", "--autopilot", "--symptom", symptom)
    assert out.returncode in (0, 3), out.stdout + out.stderr
    last = out.stdout.rstrip().splitlines()[-1]
    assert last == "diagnosis: om-mtu-consistent"


def test_down_leaves_nothing(lab: OverlayMtuLab) -> None:
    lab.down()
    assert leftovers(lab) == []
    assert not lab.run_dir.exists()
