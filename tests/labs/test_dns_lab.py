"""The dns lab, for real: the tenant network's dnsmasq (DHCP + DNS) forwarding to a second
real dnsmasq, the site resolver, in its own namespace; the engine's checks over SSH, and
the drills (own playbook and triage).

The tests run in file order against one module-scoped lab: faulty first, then the
healthy rebuild, then teardown. Drills run as the CLI does, bounded by the 60 s every
drill must finish in (a subprocess timeout, not a timed assertion).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from labs.core import netns
from labs.dns import plan
from labs.dns.lab import DnsForwarderLab
from tests.labs.conftest import fresh_lab, lab_cli, leftovers, network_lab_inventory, run_check

pytestmark = pytest.mark.lab
DIAGNOSIS = "dns-forwarder-unreachable"


def dig_from_instance() -> str:
    argv = ["dig", "+tries=1", "+time=2", plan.NAME, "A"]
    done = subprocess.run(
        netns.in_ns(plan.INSTANCE.netns, argv),
        capture_output=True, text=True, check=False, timeout=10,
    )  # fmt: skip
    return done.stdout


@pytest.fixture(scope="module")
def lab() -> Iterator[DnsForwarderLab]:
    yield from fresh_lab("dns", DnsForwarderLab)


# ---------------------------------------------------------------- faulty


def test_registered_and_up_with_the_network_labs_inventory_shape(lab: DnsForwarderLab) -> None:
    inv = network_lab_inventory(lab, plan.MODE)
    assert inv.host("controller").vars["ip"] == plan.GATEWAY_IP


def test_faulty_instance_got_its_resolver_by_dhcp_and_is_refused(lab: DnsForwarderLab) -> None:
    resolv = (Path("/etc/netns") / plan.INSTANCE.netns / "resolv.conf").read_text()
    assert f"nameserver {plan.GATEWAY_IP}" in resolv  # option 6, written by dhclient-script
    out = dig_from_instance()
    assert "status: REFUSED" in out, out
    log = (lab.run_dir / "controller" / "dnsmasq" / "dnsmasq.log").read_text()
    assert "config error is REFUSED" in log


def test_checks_see_the_refusal_and_the_unreachable_forwarder(lab: DnsForwarderLab) -> None:
    lookup = run_check(lab, "dns_lookup", ["instance"])
    assert lookup.outcome == "failed", lookup.summary
    assert lookup.facts["status"] == "REFUSED"
    cap = run_check(
        lab, "dns_capture", ["controller"], traffic_from="instance",
        client_ip=plan.INSTANCE_IP, server_ip=plan.GATEWAY_IP,
    )  # fmt: skip
    assert cap.outcome == "error_replies", cap.summary
    assert cap.facts["rcodes"] == ["REFUSED"]
    assert cap.facts["forwarded_seen"] == 0  # nothing left for the upstream
    up = run_check(lab, "dns_upstreams", ["controller"])
    assert up.outcome == "upstream_unreachable", up.summary
    assert up.facts["upstreams"] == [plan.RESOLVER_IP]


def test_drill_ends_in_the_forwarder_diagnosis(lab: DnsForwarderLab) -> None:
    out = lab_cli("drill", "dns", "--autopilot")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.rstrip().endswith(f"diagnosis: {DIAGNOSIS}")
    assert lab.status().running  # a lab the user had up stays up


def test_triage_routes_to_the_forwarder_diagnosis(lab: DnsForwarderLab) -> None:
    out = lab_cli("drill", "dns", "--autopilot", "--symptom", "instance-unreachable")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "iu-dns -> failed" in out.stdout
    assert out.stdout.rstrip().endswith(f"diagnosis: {DIAGNOSIS}")


# ---------------------------------------------------------------- healthy


def test_healthy_resolves_through_the_site_resolver(lab: DnsForwarderLab) -> None:
    lab.up(healthy=True)
    out = dig_from_instance()
    assert "status: NOERROR" in out, out
    assert plan.NAME_IP in out, out
    up = run_check(lab, "dns_upstreams", ["controller"])
    assert up.outcome == "upstream_answers", up.summary


def test_healthy_drill_never_ends_in_the_forwarder_diagnosis(lab: DnsForwarderLab) -> None:
    out = lab_cli("drill", "dns", "--healthy", "--autopilot")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.rstrip().splitlines()[-1] == "diagnosis: dns-resolves"


def test_healthy_triage_passes_dns_by(lab: DnsForwarderLab) -> None:
    """The triage's DHCP watch alone takes 45 s: a longer bound than a drill's."""
    out = lab_cli(
        "drill", "dns", "--healthy", "--autopilot", "-s", "instance-unreachable", timeout=150
    )
    assert out.returncode in (0, 3), out.stdout + out.stderr
    assert "iu-dns -> answered" in out.stdout
    assert DIAGNOSIS not in out.stdout.rstrip().splitlines()[-1]


def test_down_leaves_nothing(lab: DnsForwarderLab) -> None:
    lab.down()
    assert leftovers(lab) == []
    assert not lab.run_dir.exists()
