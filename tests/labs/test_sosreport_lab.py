"""Real sosreports of the labs: one live `cloudtales lab sosreport` of the Double VLAN lab,
and the committed fixtures under tests/sosreports (``python -m labs.sosreport --all``).

The live test runs Debian's ``sos report`` inside the lab hosts' namespaces and reads the
tree it wrote with the engine's own parsers; the fixture tests check that every lab's
faulty and healthy reports carry what the tale's checks read, and that the healthy ones
do not carry the fault.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.parsers.find_sizes import parse_find_sizes
from engine.parsers.iplink import parse_ip_link
from engine.parsers.nova_conf import parse_nova_conf
from engine.parsers.proc_bonding import parse_proc_bonding
from labs.double_vlan.lab import DoubleVlanLab
from labs.sosreport.plans import plan
from tests.labs.conftest import fresh_lab

FIXTURES = Path(__file__).resolve().parents[1] / "sosreports"
EXTRAS = Path("sos_commands/sos_extras/cloudtales")
LINKS_JSON = EXTRAS / "ip_-j_-d_link_show"


def cloudtales(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "tui.cli", *args]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)


def read(report: Path, rel: str | Path) -> str:
    path = report / rel
    assert path.is_file(), f"{path} missing; the report has: {sorted(report.rglob('*'))[:40]}"
    return path.read_text()


def links(report: Path) -> dict[str, object]:
    return {link.ifname: link for link in parse_ip_link(read(report, LINKS_JSON), str(report))}


# ---------------------------------------------------------------- live: one lab, real sos


@pytest.fixture(scope="module")
def lab() -> Iterator[DoubleVlanLab]:
    yield from fresh_lab("double-vlan", DoubleVlanLab)


@pytest.fixture(scope="module")
def reports(lab: DoubleVlanLab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sos")
    res = cloudtales("lab", "sosreport", "double-vlan", str(out))
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.splitlines()) == 4, res.stdout  # controller, compute, instance, outside
    return out / "double-vlan-faulty"


def test_one_report_per_host_named_after_it(reports: Path) -> None:
    assert sorted(p.name for p in reports.iterdir()) == [
        "compute",
        "controller",
        "instance",
        "outside",
    ]
    for host in reports.iterdir():
        # sos ran in the host's UTS namespace: its `hostname` is the lab host
        assert read(host, "sos_commands/host/hostname").strip() == host.name
        assert read(host, "version.txt").startswith("sosreport: 4.")


def test_compute_report_has_what_the_double_vlan_checks_read(reports: Path) -> None:
    compute = reports / "compute"
    conf = parse_nova_conf(read(compute, "etc/nova/nova.conf"), "compute nova.conf")
    assert conf.get("DEFAULT", "vlan_interface") == "vlan20"  # the fault, as sos copied it
    found = links(compute)
    assert {"bond0", "br100", "tap0", "mgmt0"} <= set(found)
    text_links = read(compute, "sos_commands/networking/ip_-s_-d_link")
    assert "bond0@" in text_links
    assert "master br100" in text_links
    assert "rx-vlan-offload" in read(compute, "sos_commands/networking/ethtool_-k_bond0")
    controller = parse_nova_conf(read(reports / "controller", "etc/nova/nova.conf"), "ctl")
    assert controller.get("DEFAULT", "vlan_interface") == "bond0"


def test_reports_hold_only_their_own_host(reports: Path) -> None:
    for host in reports.iterdir():
        # /run/netns was hidden from sos: no other lab's (or host's) namespace was collected
        assert read(host, "sos_commands/networking/ip_netns").strip() == ""
        assert not list((host / "sos_commands/networking").glob("ip_netns_exec_*"))
    assert "nova" not in {p.name for p in (reports / "outside" / "etc").iterdir()}


def test_sosreport_without_dir_is_one_line() -> None:
    res = cloudtales("lab", "sosreport", "double-vlan")
    assert res.returncode != 0
    assert res.stderr.strip().splitlines() == [
        "cloudtales: error: lab sosreport needs a DIR: cloudtales lab sosreport NAME DIR"
    ]


def test_sosreport_of_a_lab_that_is_down_is_one_line(
    lab: DoubleVlanLab, tmp_path: Path, reports: Path
) -> None:
    lab.down()
    res = cloudtales("lab", "sosreport", "double-vlan", str(tmp_path))
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "lab double-vlan is not running" in lines[0]
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- committed fixtures


@pytest.fixture(scope="session")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/sosreports/<lab>-<health>.tar.xz, unpacked once."""
    out = tmp_path_factory.mktemp("sosreports")
    for archive in sorted(FIXTURES.glob("*.tar.xz")):
        with tarfile.open(archive) as tar:
            tar.extractall(out, filter="tar")
    return out


def fixture(root: Path, lab: str, healthy: bool, host: str) -> Path:
    path = root / f"{lab}-{'healthy' if healthy else 'faulty'}" / host
    assert path.is_dir(), f"{path} missing: regenerate with `python -m labs.sosreport --all`"
    return path


@pytest.mark.parametrize(
    "lab",
    ["double-vlan", "valentines", "the-issue", "disappearing-images", "rabbit-hole", "havana"],
)
@pytest.mark.parametrize("healthy", [False, True])
def test_every_fixture_host_has_its_plugins(unpacked: Path, lab: str, healthy: bool) -> None:
    spec = plan(lab, Path("/run/cloudtales/labs") / lab, {"compute1": 1, "compute2": 1})
    for host in spec.hosts:
        report = fixture(unpacked, lab, healthy, host.host)
        assert read(report, "sos_commands/host/hostname").strip() == host.host
        manifest = json.loads(read(report, "sos_reports/manifest.json"))
        ran = set(manifest["components"]["report"]["plugins"])
        assert set(host.all_plugins) <= ran, (host.host, sorted(ran))
        assert links(report), f"{report}: no links"
        for name in host.scripts:
            assert (report / EXTRAS / f"cloudtales-{name}").is_file(), (report, name)


@pytest.mark.parametrize("healthy", [False, True])
def test_double_vlan_fixture_vlan_interface(unpacked: Path, healthy: bool) -> None:
    conf = read(fixture(unpacked, "double-vlan", healthy, "compute"), "etc/nova/nova.conf")
    got = parse_nova_conf(conf, "compute").get("DEFAULT", "vlan_interface")
    assert got == ("bond0" if healthy else "vlan20")


@pytest.mark.parametrize("healthy", [False, True])
def test_valentines_fixture_bond(unpacked: Path, healthy: bool) -> None:
    report = fixture(unpacked, "valentines", healthy, "compute")
    status_files = list(report.rglob("proc-net-bonding/bond0"))
    assert len(status_files) == 1, status_files
    bond = parse_proc_bonding(status_files[0].read_text(), str(status_files[0]))
    up = [s.name for s in bond.slaves if s.mii_status == "up"]
    assert (len(up) == 2) if healthy else (up == []), bond
    assert any(report.glob("etc/libvirt/qemu/*.xml"))


@pytest.mark.parametrize("healthy", [False, True])
def test_disappearing_images_fixture_removal(unpacked: Path, healthy: bool) -> None:
    report = fixture(unpacked, "disappearing-images", healthy, "compute1")
    log = read(report, "var/log/nova/nova-compute.log")
    assert ("Removing base file" in log) is not healthy
    mounts = read(report, EXTRAS / "cloudtales-mountinfo")
    assert "/var/lib/nova/instances" in mounts


@pytest.mark.parametrize("healthy", [False, True])
def test_rabbit_hole_fixture_console_sizes(unpacked: Path, healthy: bool) -> None:
    report = fixture(unpacked, "rabbit-hole", healthy, "cc12")
    sizes = parse_find_sizes(read(report, EXTRAS / "cloudtales-console-sizes"), "cc12")
    biggest = max(f.size for f in sizes)
    assert (biggest < 100 * 2**20) if healthy else (biggest > 5 * 2**30)
    # the 5.5 GiB sparse console.log itself is never copied
    assert max(p.stat().st_size for p in report.rglob("*") if p.is_file()) < 30 * 2**20


def test_fixtures_stay_small() -> None:
    total = sum(p.stat().st_size for p in FIXTURES.glob("*.tar.xz"))
    assert total < 5 * 2**20, total


# ------------------------------------------- live: the offline walk from real sosreports


def test_disappearing_images_offline_from_its_real_sosreports(tmp_path: Path) -> None:
    """Issue 10's done-when, as an operator types it: the lab up, one sosreport per host,
    the lab down, then the walk from those reports alone."""
    up = cloudtales("lab", "up", "disappearing-images")
    try:
        assert up.returncode == 0, up.stderr
        made = cloudtales("lab", "sosreport", "disappearing-images", str(tmp_path))
        assert made.returncode == 0, made.stderr
    finally:
        down = cloudtales("lab", "down", "disappearing-images")
    assert down.returncode == 0, down.stderr
    hosts = sorted((tmp_path / "disappearing-images-faulty").iterdir())
    assert [h.name for h in hosts] == ["compute1", "compute2"]
    argv = ["investigate", "-s", "instance-wont-start-backing-missing", "--autopilot"]
    for h in hosts:
        argv += ["--sosreport", str(h)]
    walk = cloudtales(*argv, "--journal", str(tmp_path / "offline.jsonl"))
    lines = walk.stdout.splitlines()
    assert lines[0] == "offline: 2 sosreports (no host is contacted)", walk.stdout
    assert "  compute1: roles compute" in lines[1]
    assert lines[-1] == "diagnosis: imagecache-removed-shared-base", walk.stdout + walk.stderr
    assert walk.returncode == 0
