"""The sosreport provider over the committed real sosreports (tests/sosreports/*.tar.xz):
which named sources each fixture host holds, that every answer parses with the live
check's own parser, "needs live access" errors, safe unpacking, host names and roles."""

from __future__ import annotations

import asyncio
import functools
import io
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.checks.lease_time import parse_processes
from engine.errors import CloudtalesError
from engine.parsers.dhcp_client import parse_client_report
from engine.parsers.ethtool import parse_ethtool_features
from engine.parsers.find_sizes import parse_find_sizes
from engine.parsers.iplink import parse_ip_link
from engine.parsers.mounts import parse_file_stats, parse_mountinfo
from engine.parsers.nova_api_log import parse_api_log, split_tail
from engine.parsers.nova_conf import parse_nova_conf
from engine.parsers.proc_bonding import parse_proc_bonding
from engine.parsers.qemu_img import parse_qemu_img_info
from engine.parsers.qemu_version import parse_versions
from engine.parsers.rabbitmqctl import parse_list_queues, split_command_output
from engine.remote.inventory import Host
from engine.sources.registry import all_sources
from engine.sources.sos_adapters import listing_files
from engine.sources.sos_roles import infer_roles, parse_role_overrides
from engine.sources.sos_tree import open_reports
from engine.sources.sosreport import (
    OfflineRunner,
    OfflineSetup,
    SosreportSources,
    offline_setup,
)

FIXTURES = Path(__file__).parents[1] / "sosreports"
CATALOGUES = {f"engine.sources.{m}" for m in ("network", "host", "nova", "services")}
DISK = "/var/lib/nova/instances/1b7d3e5f-2a4c-4e6b-8d0f-1a3c5e7b9d01/disk"


def params_for(name: str, host: Host) -> dict[str, Any]:
    """The parameters a check would pass, from the host's derived vars."""
    v = host.vars
    return {
        "nova_log_grep": {
            "path": v.get("nova_compute_log", "/var/log/nova/nova-compute.log"),
            "patterns": ("Removing base file",),
        },
        "nova_compute_log_tail": {"path": v.get("nova_api_log", "/var/log/nova/nova-api.log")},
        "nova_api_access_lines": {"path": v.get("nova_api_log", "/var/log/nova/nova-api.log")},
        "nova_conf": {"path": v.get("nova_conf", "/etc/nova/nova.conf")},
        "proc_net_bonding": {"path": v.get("bonding_status", "/proc/net/bonding/bond0")},
        "ethtool_features": {"iface": "lo"},
        "dnsmasq_config": {"path": "/run/cloudtales/labs/the-issue/controller/dnsmasq-nova.conf"},
        "dhcp_client_report": {"iface": v.get("dhcp_iface", "eth0")},
        "qemu_img_info": {"path": DISK},
        "file_stats": {"paths": (DISK,)},
        "console_log_peek": {"path": "/var/lib/nova/instances/x/console.log"},
        "instances_listing": {"root": v.get("instances_path", "/var/lib/nova/instances")},
        "console_log_sizes": {"root": v.get("instances_path", "/var/lib/nova/instances")},
    }.get(name) or generic(name)


def generic(name: str) -> dict[str, Any]:
    """Required parameters of a source this test has no better value for."""
    samples: dict[str, Any] = {"path": "/nonexistent/x", "root": "/nonexistent", "paths": ("/x",)}
    fields = all_sources()[name].params.model_fields
    return {k: samples.get(k, "eth0") for k, f in fields.items() if f.is_required()}


PARSERS: dict[str, Callable[[str], object]] = {
    "ip_link": lambda t: parse_ip_link(t) or None,
    "proc_net_bonding": lambda t: parse_proc_bonding(t).slaves or None,
    "ethtool_features": lambda t: parse_ethtool_features(t) or None,
    "nova_conf": lambda t: parse_nova_conf(t, "nova.conf").get("DEFAULT", "my_ip"),
    "mounts": lambda t: parse_mountinfo(t, "mountinfo") or None,
    "instances_listing": lambda t: listing_files(t)[1] or None,
    "file_stats": lambda t: parse_file_stats(t, "stat") or None,
    "qemu_img_info": lambda t: parse_qemu_img_info(t, "qemu-img"),
    "console_log_sizes": lambda t: parse_find_sizes(t, "find") or None,
    "rabbitmq_queues": lambda t: (
        parse_list_queues(split_command_output(t, 1 << 21).text, "q") or None
    ),
    "dnsmasq_processes": lambda t: parse_processes(t) or None,
    "dhcp_client_report": lambda t: parse_client_report(t, "dhcp").clients_for("eth0") or None,
    "nova_api_access_lines": lambda t: parse_api_log(split_tail("h", "p", t)[1]).requests or None,
    "qemu_versions": lambda t: parse_versions(t),
    "nova_log_grep": lambda t: t.strip() or None,
}

# per fixture host: the offline sources its report holds (checked with real parsers)
NET = {"ip_link", "ethtool_features"}
EXPECTED: dict[str, set[str]] = {
    "disappearing-images-faulty/compute1": NET
    | {"nova_conf", "mounts", "instances_listing", "file_stats", "qemu_img_info"}
    | {"nova_log_grep"},
    "double-vlan-faulty/compute": NET | {"nova_conf"},
    "double-vlan-faulty/controller": NET | {"nova_conf"},
    "double-vlan-faulty/instance": NET,
    "havana-faulty/controller": NET
    | {"nova_conf", "nova_api_access_lines", "nova_compute_log_tail"},
    "rabbit-hole-faulty/cc11": NET | {"console_log_sizes"},
    "rabbit-hole-faulty/controller": NET
    | {"rabbitmq_queues", "nova_api_access_lines", "nova_compute_log_tail"},
    "the-issue-faulty/compute": NET | {"qemu_versions"},
    "the-issue-faulty/controller": NET | {"dnsmasq_processes", "dnsmasq_config"},
    "the-issue-faulty/instance": NET | {"dhcp_client_report"},
    "valentines-faulty/compute": NET | {"proc_net_bonding", "bridge_fdb", "libvirt_domains"},
}


@functools.cache
def fixture_setup(fixture: str) -> OfflineSetup:
    """One unpacking per fixture for this module (the provider reads, never writes)."""
    return offline_setup([str(FIXTURES / f"{fixture}.tar.xz")])


def resolved(fixture: str) -> dict[str, set[str]]:
    setup = fixture_setup(fixture)
    out: dict[str, set[str]] = {}
    absent: list[str] = []
    for name, host in setup.inventory.hosts.items():
        found: set[str] = set()
        for src in all_sources().values():
            if not src.offline or src.live.__module__ not in CATALOGUES:
                continue
            try:
                res = asyncio.run(setup.sources.read(host, src.name, **params_for(src.name, host)))
            except CloudtalesError as exc:
                absent.append(str(exc))
                continue
            parse = PARSERS.get(src.name)
            if res.ok and parse is not None:
                assert parse(res.stdout) is not None, f"{fixture}/{name} {src.name}: parsed empty"
            found.add(src.name)
        out[f"{fixture}/{name}"] = found
    assert all("not in this sosreport" in why for why in absent), absent
    return out


@pytest.mark.parametrize("health", ["faulty", "healthy"])
@pytest.mark.parametrize(
    "lab",
    ["disappearing-images", "double-vlan", "havana", "rabbit-hole", "the-issue", "valentines"],
)
def test_each_fixture_host_resolves_its_sources(lab: str, health: str) -> None:
    """The same sources in a lab's faulty and healthy reports (the fault is in the data)."""
    got = resolved(f"{lab}-{health}")
    checked = 0
    for key, want in EXPECTED.items():
        if key.startswith(f"{lab}-faulty/"):
            assert got[key.replace("-faulty/", f"-{health}/")] == want, key
            checked += 1
    assert checked


def test_a_live_only_source_needs_live_access_and_names_command_and_host() -> None:
    setup = fixture_setup("the-issue-faulty")
    host = setup.inventory.hosts["controller"]
    with pytest.raises(CloudtalesError) as err:
        asyncio.run(setup.sources.read(host, "link_stats_sample", iface="br100"))
    assert "host controller: needs live access" in str(err.value)
    assert err.value.host == "controller"
    assert err.value.command
    assert err.value.command.startswith("ip -s -j link show dev br100")

    async def stream() -> None:
        async for _ in setup.sources.stream_bytes(host, "capture", iface="br100"):
            pass

    with pytest.raises(CloudtalesError, match="needs live access.*tcpdump"):
        asyncio.run(stream())


def test_absent_file_says_what_was_looked_for() -> None:
    setup = fixture_setup("double-vlan-faulty")
    host = setup.inventory.hosts["outside"]
    with pytest.raises(CloudtalesError) as err:
        asyncio.run(setup.sources.read(host, "nova_conf", path="/etc/nova/nova.conf"))
    assert "nova_conf not in this sosreport: looked for etc/nova/nova.conf" in str(err.value)
    assert "run `head -c 1048576 /etc/nova/nova.conf`" in str(err.value)


def test_the_offline_runner_refuses_every_command() -> None:
    runner = OfflineRunner()
    host = Host(name="c1")
    with pytest.raises(CloudtalesError, match="host c1: needs live access.*run `uptime`"):
        asyncio.run(runner.run(host, "uptime"))
    assert runner.refused == [("c1", "uptime")]


def test_grep_reads_like_grep_minus_f() -> None:
    setup = fixture_setup("disappearing-images-faulty")
    sources: SosreportSources = setup.sources
    c1, c2 = setup.inventory.hosts["compute1"], setup.inventory.hosts["compute2"]
    hit = asyncio.run(sources.read(c1, "nova_log_grep", patterns=("Removing base file",)))
    miss = asyncio.run(sources.read(c2, "nova_log_grep", patterns=("Removing base file",)))
    assert hit.exit_status == 0
    assert hit.stdout.count("\n") == 1
    assert "Removing base file: /var/lib/nova/instances/_base/e7e5010b" in hit.stdout
    assert (miss.exit_status, miss.stdout) == (1, "")
    assert sources.reads[-1].files == ("var/log/nova/nova-compute.log",)


def test_hosts_are_named_from_the_report_and_roles_inferred() -> None:
    reports = {r.name: r for r in open_reports(FIXTURES / "rabbit-hole-faulty.tar.xz")}
    assert sorted(reports) == ["cc11", "cc12", "controller"]
    assert [g.role for g in infer_roles(reports["cc11"])] == ["compute"]
    assert [(g.role, g.why) for g in infer_roles(reports["controller"])] == [
        ("controller", "nova-api/conductor/scheduler log")
    ]
    setup = offline_setup(
        [str(FIXTURES / "rabbit-hole-faulty.tar.xz")], ["cc11=compute,hypervisor"]
    )
    assert setup.inventory.hosts["cc11"].roles == ["compute", "hypervisor"]
    assert setup.meta()["offline"] is True


def test_a_report_directory_named_sosreport_host_gives_the_host(tmp_path: Path) -> None:
    report = tmp_path / "sosreport-node7-2026-12-04-abcdef"
    (report / "sos_commands" / "host").mkdir(parents=True)
    (report / "var/log/nova").mkdir(parents=True)
    (report / "var/log/nova/nova-compute.log").write_text("x\n")
    setup = offline_setup([str(tmp_path)])
    assert list(setup.inventory.hosts) == ["node7"]
    assert setup.inventory.hosts["node7"].roles == ["compute"]


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(CloudtalesError, match="no such sosreport"):
        open_reports(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CloudtalesError, match="holds no sosreport"):
        open_reports(tmp_path / "empty")
    with pytest.raises(CloudtalesError, match="expected HOST=ROLE"):
        parse_role_overrides(["cc11"])
    with pytest.raises(CloudtalesError, match="no sosreport of host nosuch"):
        offline_setup([str(FIXTURES / "havana-faulty.tar.xz")], ["nosuch=compute"])


def test_an_archive_cannot_write_outside_its_directory(tmp_path: Path) -> None:
    bad = tmp_path / "evil.tar.xz"
    with tarfile.open(bad, "w:xz") as tar:
        data = b"owned\n"
        info = tarfile.TarInfo("../../escaped")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(CloudtalesError, match="cannot unpack the sosreport"):
        open_reports(bad)
    assert not (tmp_path.parent / "escaped").exists()


def test_a_symlink_leaving_the_report_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("[DEFAULT]\nmy_ip = 1.2.3.4\n")
    report = tmp_path / "r" / "sosreport-h1-x"
    (report / "sos_commands").mkdir(parents=True)
    (report / "etc/nova").mkdir(parents=True)
    (report / "etc/nova/nova.conf").symlink_to(secret)
    setup = offline_setup([str(report)])
    with pytest.raises(CloudtalesError, match="not in this sosreport"):
        asyncio.run(setup.sources.read(setup.inventory.hosts["h1"], "nova_conf"))


def test_a_big_log_is_read_as_a_bounded_tail(tmp_path: Path) -> None:
    report = tmp_path / "sosreport-h2-x"
    (report / "sos_commands").mkdir(parents=True)
    (report / "var/log/nova").mkdir(parents=True)
    log = report / "var/log/nova/nova-api.log"
    log.write_text("".join(f"line {i}\n" for i in range(200_000)))
    setup = offline_setup([str(report)])
    res = asyncio.run(
        setup.sources.read(
            setup.inventory.hosts["h2"],
            "nova_compute_log_tail",
            path=str(log)[len(str(report)) :],
            max_bytes=4096,
        )
    )
    assert len(res.stdout) <= 4096
    assert res.stdout.endswith("line 199999\n")
    assert res.stdout.startswith("line ")


def test_a_containerized_host_reads_tripleo_paths(tmp_path: Path) -> None:
    """TripleO keeps nova.conf under puppet-generated and logs under var/log/containers."""
    report = tmp_path / "sosreport-overcloud-novacompute-0-2026"
    (report / "sos_commands" / "host").mkdir(parents=True)
    (report / "sos_commands/host/hostname").write_text("overcloud-novacompute-0.localdomain\n")
    conf = report / "var/lib/config-data/puppet-generated/nova_libvirt/etc/nova"
    conf.mkdir(parents=True)
    (conf / "nova.conf").write_text("[DEFAULT]\nmy_ip = 172.17.0.20\n")
    logs = report / "var/log/containers/nova"
    logs.mkdir(parents=True)
    (logs / "nova-compute.log").write_text("a\nINFO Removing base file: /x/_base/ab\n")
    setup = offline_setup([str(report)])
    host = setup.inventory.hosts["overcloud-novacompute-0"]
    assert host.roles == ["compute"]
    assert host.vars["nova_compute_log"] == "/var/log/containers/nova/nova-compute.log"
    conf_read = asyncio.run(setup.sources.read(host, "nova_conf"))
    assert "my_ip = 172.17.0.20" in conf_read.stdout
    grep = asyncio.run(
        setup.sources.read(
            host, "nova_log_grep", path=host.vars["nova_compute_log"], patterns=("Removing",)
        )
    )
    assert grep.stdout == "INFO Removing base file: /x/_base/ab\n"
    with pytest.raises(CloudtalesError, match="not in this sosreport"):  # never another file
        asyncio.run(setup.sources.read(host, "nova_conf", path="/etc/nova/nova-compute.conf"))
