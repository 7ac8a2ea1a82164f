"""``investigate --cloud X --server NAME|UUID`` on the compute-service-down lab (healthy).

The real control plane boots ``web-01`` on compute-1 (``networks: none``; no neutron).
nova answers ``GET /servers/ID`` with a 500 without neutron, so the host and the
instance name come from nova's hypervisor server lists; the ports read says neutron is
not in the catalogue, so the tap and MAC come from the compute's libvirt domain XML,
matched by instance name over SSH (the lab writes the domain nova's libvirt driver would
define: ``fake.FakeDriver`` defines none; ``labs/compute_service_down/domain_stand_in.py``).
One lab build for the module; every run is the CLI as a user types it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from labs.compute_service_down import lab as csd
from labs.compute_service_down.lab import ComputeServiceDownLab
from labs.core.registry import get_lab

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 120  # the whole walk on this inventory takes seconds; a bound, not an assertion


@pytest.fixture(scope="module")
def lab() -> Iterator[ComputeServiceDownLab]:
    the_lab = get_lab("compute-service-down")
    assert isinstance(the_lab, ComputeServiceDownLab)
    the_lab.down()
    the_lab.up(healthy=True)
    yield the_lab
    the_lab.down()


def investigate(lab: ComputeServiceDownLab, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(lab.clouds_path)}
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", "--cloud", csd.CLOUD, "investigate", *argv,
         "-s", "instance-unreachable", "--autopilot"],
        cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT, env=env,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def events(journal: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]


def test_server_resolves_to_its_host_and_instance(
    lab: ComputeServiceDownLab, tmp_path: Path
) -> None:
    journal = tmp_path / "j.jsonl"
    inv = str(lab.inventory_path())
    proc = investigate(lab, "-i", inv, "--server", csd.SERVER, "--journal", str(journal))
    out = proc.stdout.splitlines()
    assert out[0].startswith(f"server {csd.SERVER} ("), proc.stdout + proc.stderr
    assert f"in cloud {csd.CLOUD}: on compute-1, instance instance-" in out[0]
    assert "via hypervisor server lists (server show answered HTTP 500" in out[0]
    assert "no network service (neutron) in the catalogue" in proc.stdout
    nic = out[1]  # from the lab's stand-in domain XML, read over SSH, matched by name
    assert re.fullmatch(
        r"  nic fa:16:3e:[0-9a-f:]{8} tap tap[0-9a-f-]{11} \(from libvirt domain "
        r"instance-[0-9a-f]{8} on compute-1\)",
        nic,
    ), proc.stdout
    evs = events(journal)
    facts = {e["name"]: e["value"] for e in evs if e["type"] == "fact"}
    assert facts["server.host"] == "compute-1"
    assert facts["server.os_host"] == "compute-1"
    assert re.fullmatch(r"instance-[0-9a-f]{8}", str(facts["server.instance_name"]))
    assert facts["server.tap"] == "tap" + str(facts["server.id"])[:11]
    assert str(facts["server.mac"]) in nic
    first = next(e for e in evs if e["type"] == "check_started")
    assert first["hosts"] == ["compute-1"]  # the inventory narrowed to the server's compute
    text = journal.read_text() + proc.stdout + proc.stderr
    for secret in lab_secrets(lab):
        assert secret not in text
    assert "gAAAA" not in text  # no fernet token

    by_uuid = investigate(lab, "-i", inv, "--server", str(facts["server.id"]), "--journal",
                          str(tmp_path / "u.jsonl"))  # fmt: skip
    assert by_uuid.stdout.splitlines()[0] == out[0]


def lab_secrets(lab: ComputeServiceDownLab) -> list[str]:
    state = json.loads((lab.run_dir / "state.json").read_text())
    return list(state["extra"]["secrets"].values())


def test_a_wrong_server_is_one_line_naming_the_cloud(lab: ComputeServiceDownLab) -> None:
    proc = investigate(lab, "-i", str(lab.inventory_path()), "--server", "no-such-server")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"cloudtales: error: cloud {csd.CLOUD} (http://10.250.24.1:5000/v3): no server named "
        "no-such-server (by name or UUID, all projects)"
    ]


def test_a_compute_missing_from_the_inventory_is_named(
    lab: ComputeServiceDownLab, tmp_path: Path
) -> None:
    doc = yaml.safe_load(lab.inventory_path().read_text())
    del doc["hosts"]["compute-1"]
    inv = tmp_path / "inventory.yaml"
    inv.write_text(yaml.safe_dump(doc))
    proc = investigate(lab, "-i", str(inv), "--server", csd.SERVER)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("cloudtales: error: host compute-1 (named by the OpenStack API)")
    assert "add it under hosts: (compute-1: {address: ..., roles: [compute]})" in line


def test_resume_narrows_from_the_journal_with_the_api_down(
    lab: ComputeServiceDownLab, tmp_path: Path
) -> None:
    """A ``--server`` walk cut off before its first check resumes on compute-1 alone, with
    nova-api and keystone unreachable (an nftables drop in the controller): the
    resolution comes from the journal, not from the cloud."""
    journal = tmp_path / "cut.jsonl"
    inv = str(lab.inventory_path())
    proc = investigate(lab, "-i", inv, "--server", csd.SERVER, "--journal", str(journal))
    assert proc.stdout.splitlines()[0].startswith(f"server {csd.SERVER} ("), proc.stderr
    lines = journal.read_text().splitlines()
    cut = next(i for i, ln in enumerate(lines) if json.loads(ln)["type"] == "check_started")
    journal.write_text("\n".join(lines[:cut]) + "\n")  # as if killed before the first check
    table = "ct_h3a_api_down"
    rules = (
        f"add table inet {table}\n"
        f"add chain inet {table} input {{ type filter hook input priority 0; }}\n"
        f"add rule inet {table} input tcp dport {{ 5000, 8774 }} drop\n"
    )
    ns = ["ip", "netns", "exec", csd.CONTROLLER.netns, "nft"]
    subprocess.run([*ns, "-f", "-"], input=rules, text=True, check=True)
    try:
        resumed = subprocess.run(
            [sys.executable, "-m", "tui.cli", "investigate", "--resume", str(journal),
             "--autopilot"],
            cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT,
            stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
    finally:
        subprocess.run([*ns, "delete", "table", "inet", table], check=True)
    assert "Traceback" not in resumed.stderr, resumed.stderr
    evs = events(journal)
    kinds = [e["type"] for e in evs]
    assert "resumed" in kinds, resumed.stdout + resumed.stderr
    after = evs[kinds.index("resumed") :]
    first = next(e for e in after if e["type"] == "check_started")
    assert first["node"] == "iu-compute-uplink"
    assert first["hosts"] == ["compute-1"], resumed.stdout + resumed.stderr
    kept: Any = next(e for e in evs if e["type"] == "session")["server"]
    assert kept["host"] == "compute-1"
    assert str(kept["nics"][0]["tap"]).startswith("tap")
