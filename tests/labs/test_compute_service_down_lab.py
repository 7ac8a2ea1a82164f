"""The compute-service-down lab on a real control plane (keystone, glance, placement, nova
from PyPI in the lab's venv): nova's own API says compute-2 is down, and the drill finds why.

One module-scoped lab, built faulty (rabbit-auth, the default), then rebuilt healthy
for the control; the other faults (``stopped``, ``rabbit-unreachable``) run on demand
(``CLOUDTALES_LAB_ALL_FAULTS=1`` collects them), to keep CI's time in bounds. Drills run as the CLI
does, bounded by a subprocess timeout that covers a rebuild (never a timed assertion).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from engine.errors import CloudtalesError
from engine.remote.inventory import load_inventory
from engine.sources import api_client
from labs.compute_service_down import lab as csd
from labs.compute_service_down.lab import ComputeServiceDownLab
from labs.core import netns
from tests.labs.conftest import fresh_lab

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"  # all of them: cs-bond goes on into Valentine's Day
DRILL_TIMEOUT = 600  # a rebuild of the control plane included


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", "--playbooks", str(PLAYBOOKS), *argv],
        cwd=REPO, capture_output=True, text=True, timeout=DRILL_TIMEOUT,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def lab() -> Iterator[ComputeServiceDownLab]:
    yield from fresh_lab("compute-service-down", ComputeServiceDownLab)


def controller(lab: ComputeServiceDownLab) -> object:
    return load_inventory(lab.inventory_path()).hosts["controller"]


def test_status_shows_every_service_and_its_endpoint(lab: ComputeServiceDownLab) -> None:
    st = lab.status()
    assert st.running, st.details
    text = "\n".join(st.details)
    for endpoint in ("keystone: http://10.250.24.1:5000/v3", "glance-api: http://10.250.24.1:9292",
                     "placement-api: http://10.250.24.1:8778",
                     "nova-api: http://10.250.24.1:8774/v2.1"):  # fmt: skip
        assert endpoint in text
    assert "nova-conductor: controller, pid " in text
    assert "nova-compute: compute-1 (10.250.24.2), fake.FakeDriver, pid " in text
    doc = yaml.safe_load(lab.clouds_path.read_text())
    assert doc["clouds"][csd.CLOUD]["auth"]["auth_url"] == "http://10.250.24.1:5000/v3"
    log = Path(load_inventory(lab.inventory_path()).hosts["compute-2"].vars["nova_compute_log"])
    assert "ACCESS_REFUSED" in log.read_text()  # the broker refused the wrong password


async def test_the_real_api_lists_compute2_down(lab: ComputeServiceDownLab) -> None:
    host = controller(lab)
    res = await api_client.read_api(host, "compute_services", timeout=60)  # type: ignore[arg-type]
    items = {i["host"]: i["state"] for i in json.loads(res.stdout)["items"]}
    assert items == {"compute-1": "up", "compute-2": "down"}
    hyp = await api_client.read_api(host, "hypervisors", timeout=60)  # type: ignore[arg-type]
    assert {i["name"] for i in json.loads(hyp.stdout)["items"]} == {"compute-1", "compute-2"}


async def test_wrong_password_is_one_line(lab: ComputeServiceDownLab, tmp_path: Path) -> None:
    doc = yaml.safe_load(lab.clouds_path.read_text())
    good = doc["clouds"][csd.CLOUD]["auth"]["password"]
    doc["clouds"][csd.CLOUD]["auth"]["password"] = "wrong-password-xyz"
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump(doc))
    host = controller(lab).model_copy(
        update={"vars": {"os_cloud": csd.CLOUD, "clouds_path": str(path)}}
    )  # type: ignore[attr-defined]
    with pytest.raises(CloudtalesError) as err:
        await api_client.read_api(host, "compute_services", timeout=60)
    said = str(err.value)
    assert said.startswith(
        f"cloud {csd.CLOUD} (http://10.250.24.1:5000/v3): authentication refused"
    )
    assert "wrong-password-xyz" not in said
    assert good not in said


def test_drill_ends_rabbit_auth_failed_without_secrets(lab: ComputeServiceDownLab) -> None:
    proc = cli("drill", "compute-service-down", "--autopilot")
    assert proc.stdout.strip().splitlines()[-1] == "diagnosis: compute-rabbit-auth-failed", (
        proc.stdout[-2000:] + proc.stderr[-2000:]
    )
    assert "Traceback" not in proc.stderr
    journal = next(
        ln.split(": ", 1)[1] for ln in proc.stdout.splitlines() if ln.startswith("journal: ")
    )
    text = Path(journal).read_text() + proc.stdout + proc.stderr
    secrets = json.loads((lab.run_dir / "state.json").read_text())["extra"]["secrets"]
    assert not [k for k, v in secrets.items() if v in text]


if os.environ.get("CLOUDTALES_LAB_ALL_FAULTS"):  # on demand: each rebuilds the control plane

    @pytest.mark.parametrize(
        ("fault", "diagnosis"),
        [
            ("stopped", "compute-process-stopped"),
            ("rabbit-unreachable", "compute-rabbit-unreachable"),
        ],
    )
    def test_other_faults(lab: ComputeServiceDownLab, fault: str, diagnosis: str) -> None:
        lab.down()
        proc = cli("drill", "compute-service-down", "--fault", fault, "--autopilot")
        assert proc.stdout.strip().splitlines()[-1] == f"diagnosis: {diagnosis}", proc.stdout[
            -2000:
        ]

    def test_hung_compute_reaches_the_clock_in_sync(
        lab: ComputeServiceDownLab, tmp_path: Path
    ) -> None:
        """A frozen nova-compute (lab fault ``hung``): running, a quiet log, the broker
        answers; the clock check reads both clocks (one kernel: ~0 s) and the walk ends
        inconclusive at cs-clock, with the lab's service_down_time read from nova.conf."""
        lab.down()
        hung = ComputeServiceDownLab(csd.HUNG)
        hung.up()
        journal = tmp_path / "hung.jsonl"
        proc = cli("investigate", "-i", str(hung.inventory_path()), "-s",
                   "compute-service-down", "--autopilot", "--journal", str(journal))  # fmt: skip
        out = proc.stdout + proc.stderr
        assert proc.returncode == 3, out[-2000:]
        evs = [json.loads(ln) for ln in journal.read_text().splitlines()]
        done = {e["node"]: e for e in evs if e["type"] == "check_result"}
        assert [done[n]["outcome"] for n in ("cs-bond", "cs-process", "cs-log")] == [
            "no_bond", "running", "clean"]  # fmt: skip
        assert done["cs-rabbit-reach"]["outcome"] == "open"
        clock = done["cs-clock"]
        assert clock["outcome"] == "in_sync", clock
        assert abs(clock["facts"]["offset_seconds"]) < 1.0
        assert clock["facts"]["service_down_time"] == 15  # the lab's, from its nova.conf


def test_healthy_control_ends_services_up(lab: ComputeServiceDownLab) -> None:
    lab.down()
    proc = cli("drill", "compute-service-down", "--healthy", "--autopilot")
    assert proc.stdout.strip().splitlines()[-1] == "diagnosis: compute-services-up", (
        proc.stdout[-2000:] + proc.stderr[-2000:]
    )


def test_down_leaves_nothing(lab: ComputeServiceDownLab) -> None:
    lab.down()
    assert netns.namespaces(csd.NS_PREFIX) == []
    assert netns.links(prefix=csd.ROOT_PREFIX) == []
    assert not lab.run_dir.exists()
    assert not any(Path("/etc/netns").glob(csd.NS_PREFIX + "*"))
