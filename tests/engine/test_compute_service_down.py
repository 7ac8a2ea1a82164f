"""compute-service-down's parsers and detectors on answers recorded from the real lab, and
the api provider's failures (missing cloud, unreachable endpoint) as one line each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from engine.detectors.compute_service import judge_log, judge_process, judge_services
from engine.errors import CloudtalesError
from engine.parsers.os_api import parse_compute_services, parse_processes, scan_compute_log
from engine.remote.inventory import Host
from engine.sources import api_client

REPO = Path(__file__).resolve().parents[2]
RECORDED = REPO / "tests/rehearsals/compute-service-down-rabbit-unreachable/sources.yaml"
STOPPED = REPO / "tests/rehearsals/compute-service-down-stopped/sources.yaml"
PASSWORD = "s3cret-never-shown"


def answer(source: str, path: Path = RECORDED) -> str:
    rows = yaml.safe_load(path.read_text())
    return next(r.get("stdout", "") for r in rows if r["source"] == source)


def test_services_from_the_real_api_name_the_host_down() -> None:
    ans, services = parse_compute_services(answer("compute_services"))
    assert ans.cloud == "compute-service-down-lab"
    assert {s.host: s.state for s in services} == {"compute-1": "up", "compute-2": "down"}
    result = judge_services(ans, services)
    assert result.outcome == "service_down"
    assert result.facts["down_host"] == "compute-2"
    # nova's updated_at stays null until the first report after registering
    assert result.facts["heartbeat"] == "none since it registered"
    up = next(s for s in services if s.host == "compute-1")
    assert up.heartbeat_age is not None
    assert 0 <= up.heartbeat_age < 15


def test_all_up_and_empty_answers() -> None:
    text = answer("compute_services").replace('"state": "down"', '"state": "up"')
    ans, services = parse_compute_services(text)
    assert judge_services(ans, services).outcome == "all_up"
    empty = '{"cloud": "c", "checked_at": "2026-12-04T14:00:00", "items": []}'
    assert judge_services(*parse_compute_services(empty)).outcome == "no_compute_services"


def test_bad_answer_is_one_line() -> None:
    with pytest.raises(CloudtalesError, match="compute_services: not an API answer"):
        parse_compute_services("<html>502</html>")


def test_processes_and_log_from_the_real_compute() -> None:
    procs = parse_processes(answer("nova_compute_processes"))
    assert procs
    assert all("nova-compute" in p.args for p in procs)
    assert judge_process("compute-2", procs).outcome == "running"
    stopped = parse_processes(answer("nova_compute_processes", STOPPED))
    assert judge_process("compute-2", stopped).outcome == "not_running"
    # the recorded tail holds nova-compute's start-up wait for the conductor only
    tail = answer("nova_compute_log_tail")
    assert "Timed out waiting for nova-conductor" in tail
    assert scan_compute_log(tail).kind == "clean"
    # a line the same lab's nova-compute wrote once its heartbeats to RabbitMQ timed out
    line = (
        "2026-12-04 14:29:40.379 12515 ERROR oslo.messaging._drivers.impl_rabbit [-] "
        "[ee960755-45b5-498f-91fb-eef2b0ff4cd8] AMQP server on 10.250.24.1:5672 is unreachable: "
        "timed out. Trying again in 1 seconds.: TimeoutError: timed out"
    )
    finding = scan_compute_log(tail + line + "\n")
    assert finding.kind == "amqp_unreachable"
    assert "10.250.24.1:5672" in finding.line
    assert judge_log("compute-2", "/x.log", finding).outcome == "amqp_unreachable"


def test_log_classes() -> None:
    refused = (
        "2026-12-04 14:25:29.156 5744 ERROR nova amqp.exceptions.AccessRefused: (0, 0): (403) "
        "ACCESS_REFUSED - Login was refused using authentication mechanism AMQPLAIN."
    )
    assert scan_compute_log(refused).kind == "amqp_auth"
    db = "2026-12-04 14:25:29.156 5744 ERROR oslo_db.sqlalchemy DBConnectionError: (2003)"
    assert scan_compute_log(db).kind == "db_error"
    quiet = "2026-12-04 14:25:29.156 5744 INFO nova.compute.manager Caught SIGTERM, stopping"
    found = scan_compute_log(quiet)
    assert (found.kind, found.stopped) == ("clean", True)


def clouds(tmp_path: Path, auth_url: str) -> Path:
    path = tmp_path / "clouds.yaml"
    doc = {"clouds": {"lab": {"auth": {"auth_url": auth_url, "username": "admin",
                                        "password": PASSWORD, "project_name": "admin",
                                        "user_domain_name": "Default",
                                        "project_domain_name": "Default"},
                               "region_name": "RegionOne"}}}  # fmt: skip
    path.write_text(yaml.safe_dump(doc))
    return path


async def test_unreachable_endpoint_is_one_line_naming_cloud_and_endpoint(tmp_path: Path) -> None:
    path = clouds(tmp_path, "http://127.0.0.1:9/v3")  # discard: nothing listens
    host = Host(name="controller", vars={"os_cloud": "lab", "clouds_path": str(path)})
    with pytest.raises(CloudtalesError) as err:
        await api_client.read_api(host, "compute_services", timeout=30)
    said = str(err.value)
    assert said == "cloud lab (http://127.0.0.1:9/v3): endpoint unreachable"
    assert PASSWORD not in said
    assert (
        err.value.command == "openstack compute service list --service nova-compute --long -f json"
    )


async def test_missing_cloud_and_no_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = clouds(tmp_path, "http://127.0.0.1:9/v3")
    host = Host(name="controller", vars={"os_cloud": "nope", "clouds_path": str(path)})
    with pytest.raises(CloudtalesError, match=rf"^cloud nope: not found in {path}"):
        await api_client.read_api(host, "compute_services")
    monkeypatch.delenv("OS_CLOUD", raising=False)
    with pytest.raises(CloudtalesError, match="no cloud to ask for host bare: give --cloud"):
        await api_client.read_api(Host(name="bare"), "hypervisors")


def test_help_does_not_import_openstacksdk() -> None:
    code = (
        "import sys, tui.cli\n"
        "try:\n    tui.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('openstack' in sys.modules, 'keystoneauth1' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "False False"
