"""The metadata lab, for real: haproxy in the router namespace behind the L3 agent's redirect,
the emulated metadata agent and nova API, curl from the instance, and the drills.

The tests run in file order against one module-scoped lab: proxy-down first, then
secret-mismatch, then healthy, then teardown. Drills run as the CLI does, bounded by
the 60 s every drill must finish in (a subprocess timeout, not a timed assertion).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from labs.core import netns
from labs.metadata import plan
from labs.metadata.lab import MetadataLab
from tests.labs.conftest import fresh_lab, lab_cli, leftovers, network_lab_inventory, run_check

pytestmark = pytest.mark.lab


def curl_from_instance() -> tuple[str, str]:
    """(HTTP code, body) of a GET of the instance id, as cloud-init would ask."""
    url = "http://169.254.169.254/latest/meta-data/instance-id"
    curl = ["curl", "-s", "-w", "\n%{http_code}", "--max-time", "3", url]
    argv = netns.in_ns(plan.INSTANCE.netns, curl)
    out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10).stdout
    body, _, code = out.rpartition("\n")
    return code, body


def log(lab: MetadataLab, which: str) -> str:
    return (lab.run_dir / plan.LOGS[which]).read_text()


@pytest.fixture(scope="module")
def lab() -> Iterator[MetadataLab]:
    yield from fresh_lab("metadata", MetadataLab)


# ---------------------------------------------------------------- proxy down


def test_registered_and_up_with_the_network_labs_inventory_shape(lab: MetadataLab) -> None:
    inv = network_lab_inventory(lab, plan.PROXY_DOWN)
    assert inv.host("instance").vars["ip"] == plan.INSTANCE_IP
    assert inv.host("compute").vars["tap_iface"] == "tap0"
    assert inv.host("controller").vars["nova_conf"] == "/etc/nova/nova.conf"


def test_proxy_down_refuses_the_instance_behind_a_working_redirect(lab: MetadataLab) -> None:
    code, _ = curl_from_instance()
    assert code == "000"  # no HTTP answer: refused
    assert not plan.listening(plan.CONTROLLER.netns, plan.PROXY_PORT)
    nat = netns.run(netns.in_ns(plan.CONTROLLER.netns, ["iptables-save", "-c", "-t", "nat"])).stdout
    rule = next(ln for ln in nat.splitlines() if "--to-ports 9697" in ln)
    assert not rule.startswith("[0:0]"), rule  # the redirect counted the instance's SYN


def test_checks_see_the_refusal_and_the_missing_listener(lab: MetadataLab) -> None:
    probe = run_check(lab, "metadata_probe", ["instance"])
    assert probe.outcome == "refused", probe.summary
    assert "via 10.0.0.1 dev eth0" in str(probe.facts["route"])
    listener = run_check(lab, "metadata_listener", ["controller"], port=9697)
    assert listener.outcome == "not_listening", listener.summary
    assert "REDIRECT --to-ports 9697" in str(listener.facts["redirect"])


def test_drill_ends_in_metadata_proxy_down(lab: MetadataLab) -> None:
    out = lab_cli("drill", "metadata", "--autopilot")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.rstrip().endswith("diagnosis: metadata-proxy-down")
    assert lab.status().running  # a lab the user had up stays up


# ---------------------------------------------------------------- secret mismatch


def test_secret_mismatch_gets_403_logged_by_nova_and_the_agent(lab: MetadataLab) -> None:
    lab.select_fault(plan.SECRET_MISMATCH)
    lab.up()
    assert lab.status().mode == plan.SECRET_MISMATCH
    code, _ = curl_from_instance()
    assert code == "403"
    assert "does not match the expected value" in log(lab, "nova")
    assert "responded with Forbidden" in log(lab, "agent")
    assert '"GET /latest/meta-data/instance-id HTTP/1.1"' in log(lab, "proxy")


def test_drill_with_the_fault_ends_in_metadata_secret_mismatch(lab: MetadataLab) -> None:
    out = lab_cli("drill", "metadata", "--fault", "secret-mismatch", "--autopilot")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.rstrip().endswith("diagnosis: metadata-secret-mismatch")
    assert "sha256:" in out.stdout  # fingerprints of the secrets, never the secrets
    assert plan.SECRET not in out.stdout


def test_an_unknown_fault_is_one_line() -> None:
    out = lab_cli("drill", "metadata", "--fault", "nope", "--autopilot")
    assert out.returncode != 0
    assert out.stderr.strip().splitlines() == [
        "cloudtales: error: drill metadata: no fault 'nope' (known: secret-mismatch)"
    ]


# ---------------------------------------------------------------- healthy


def test_healthy_serves_the_instance_its_metadata(lab: MetadataLab) -> None:
    lab.select_fault(plan.PROXY_DOWN)
    lab.up(healthy=True)
    code, body = curl_from_instance()
    assert (code, body) == ("200", plan.INSTANCE_ID)


def test_healthy_drill_never_ends_in_a_metadata_fault(lab: MetadataLab) -> None:
    out = lab_cli("drill", "metadata", "--healthy", "--autopilot")
    assert out.returncode == 0, out.stdout + out.stderr
    last = out.stdout.rstrip().splitlines()[-1]
    assert last == "diagnosis: metadata-ok"


def test_surprise_kills_the_proxy_in_place(lab: MetadataLab) -> None:
    keys = (lab.run_dir / "known_hosts").read_bytes()
    injection = lab.inject_fault()
    assert not injection.rebuilt
    status = lab.status()
    assert status.running, status.details
    assert status.healthy is False
    assert curl_from_instance()[0] == "000"
    assert not plan.listening(plan.CONTROLLER.netns, plan.PROXY_PORT)
    assert (lab.run_dir / "known_hosts").read_bytes() == keys


def test_surprise_rotates_novas_secret_in_place(lab: MetadataLab) -> None:
    lab.select_fault(plan.SECRET_MISMATCH)
    lab.up(healthy=True)
    assert curl_from_instance()[0] == "200"
    lab.inject_fault()
    assert lab.status().running
    assert curl_from_instance()[0] == "403"
    assert "does not match the expected value" in log(lab, "nova")


def test_down_leaves_nothing(lab: MetadataLab) -> None:
    lab.down()
    assert leftovers(lab) == []
    assert not lab.run_dir.exists()
