"""Disappearing Images: parsers, detectors and checks against real qcow2 files (qemu-img),
libvirt's test driver, and malformed input (a domain without disks, broken qemu-img JSON,
a broken nova.conf)."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.checks.base import CheckContext
from engine.checks.registry import get_check_type
from engine.detectors.disks import classify_backing_chains
from engine.detectors.imagecache import (
    PathView,
    classify_cache_options,
    classify_instances_path,
    classify_removals,
    image_cache_settings,
    parse_removal_line,
)
from engine.errors import CloudtalesError
from engine.parsers.libvirt_xml import parse_domain_xml
from engine.parsers.mounts import (
    containing_mount,
    mount_at,
    parse_file_stats,
    parse_mountinfo,
    parse_path_identity,
    parse_storage_users,
)
from engine.parsers.nova_conf import parse_nova_conf
from engine.parsers.qemu_img import missing_file_in_error, parse_qemu_img_info
from engine.remote.inventory import Host, Inventory
from engine.remote.local import LocalRunner
from engine.remote.replay import Recording, ReplayRunner
from engine.remote.runner import Runner
from engine.results import CheckResult

IMAGE_ID = "c7e3a9d1-58b4-4f06-8d2e-9a1b3c5d7e2f"
SHA = hashlib.sha1(IMAGE_ID.encode()).hexdigest()


# ------------------------------------------------------------------ real disks


def qemu_img(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["qemu-img", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def disks(tmp_path: Path) -> dict[str, Path]:
    """A shared-looking instances dir: _base/<sha1> (raw) and two qcow2 overlays on it."""
    base = tmp_path / "_base" / SHA
    base.parent.mkdir()
    assert qemu_img("create", "-q", "-f", "raw", str(base), "64M").returncode == 0
    out: dict[str, Path] = {"base": base}
    for name in ("inst1", "inst2"):
        disk = tmp_path / name / "disk"
        disk.parent.mkdir()
        made = qemu_img("create", "-q", "-f", "qcow2", "-b", str(base), "-F", "raw", str(disk))
        assert made.returncode == 0, made.stderr
        out[name] = disk
    return out


def test_qemu_img_chain_from_real_overlay(disks: dict[str, Path]) -> None:
    res = qemu_img("info", "--backing-chain", "--output=json", "-U", str(disks["inst1"]))
    chain = parse_qemu_img_info(res.stdout, "c1: qemu-img")
    assert [(i.filename, i.format) for i in chain] == [
        (str(disks["inst1"]), "qcow2"),
        (str(disks["base"]), "raw"),
    ]
    assert chain[0].backing == str(disks["base"])
    assert chain[0].backing_format == "raw"
    assert chain[1].backing is None
    assert chain[0].virtual_size == 64 << 20


def test_qemu_img_error_names_the_missing_base(disks: dict[str, Path]) -> None:
    disks["base"].unlink()
    res = qemu_img("info", "--backing-chain", "--output=json", "-U", str(disks["inst1"]))
    assert res.returncode != 0
    assert missing_file_in_error(res.stderr) == str(disks["base"])
    # the overlay's own header still names its backing file
    alone = qemu_img("info", "--output=json", "-U", str(disks["inst1"]))
    assert parse_qemu_img_info(alone.stdout, "c1")[0].backing == str(disks["base"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("qemu-img: Could not open 'x'", "did not print JSON"),
        ('[{"filename": "disk", "format": "qcow2"', "did not print JSON"),
        ("[]", "printed an empty list"),
        ("[1]", "entry 0 is not a JSON object"),
        ('{"filename": "disk"}', "has no 'filename' or 'format'"),
    ],
)
def test_malformed_qemu_img_json_is_one_line(text: str, message: str) -> None:
    with pytest.raises(CloudtalesError, match=message) as info:
        parse_qemu_img_info(text, "compute2: qemu-img info /v/disk")
    assert str(info.value).startswith("compute2: qemu-img info /v/disk: ")
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------ libvirt XML

DOMAIN = """<domain type='kvm'>
  <name>instance-00000003</name><uuid>3d9f5071-4c6e-4081-af2b-3c5e7091b123</uuid>
  <metadata><nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
    <nova:name>experiment</nova:name><nova:root type="image" uuid="{image}"/>
  </nova:instance></metadata>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <backingStore type='file'><format type='raw'/><source file='{base}'/>
        <backingStore/></backingStore>
      <target dev='vda' bus='virtio'/></disk>
    <disk type='network' device='disk'><source protocol='rbd' name='volumes/vol-1'/>
      <target dev='vdb' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>
  </devices>
</domain>"""


def test_domain_xml_disks_backing_and_nova_metadata() -> None:
    dom = parse_domain_xml(DOMAIN.format(image=IMAGE_ID, disk="/i/d", base="/i/_base/b"), "c2")
    assert (dom.name, dom.nova_name, dom.image_id) == ("instance-00000003", "experiment", IMAGE_ID)
    assert [(d.target, d.kind, d.source) for d in dom.disks] == [
        ("vda", "file", "/i/d"),
        ("vdb", "network", "rbd:volumes/vol-1"),
        ("hdc", "file", None),
    ]
    assert [d.target for d in dom.file_disks] == ["vda"]
    assert dom.disks[0].backing_paths == ("/i/_base/b",)
    assert dom.disks[0].backing[0].format == "raw"


def test_domain_without_disks_or_devices() -> None:
    no_disk = parse_domain_xml(
        "<domain><name>d1</name><devices><interface type='bridge'/></devices></domain>", "c1"
    )
    assert no_disk.disks == ()
    assert no_disk.file_disks == ()
    no_devices = parse_domain_xml("<domain><name>d2</name></domain>", "c1")
    assert no_devices.disks == ()
    assert no_devices.image_id is None


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<domain><name>x</name>", "domain XML is malformed at line 1"),
        ("<network><name>x</name></network>", "expected a <domain> element, got <network>"),
        ("<domain><uuid>1</uuid></domain>", "domain XML has no <name>"),
    ],
)
def test_malformed_domain_xml_is_one_line(xml: str, message: str) -> None:
    with pytest.raises(CloudtalesError, match=message) as info:
        parse_domain_xml(xml, "compute1: test:///n.xml")
    assert str(info.value).startswith("compute1: test:///n.xml: ")


# ------------------------------------------------------------------ mounts, stat, registry

NFS_LINE = (
    "58 54 0:52 /export /var/lib/nova/instances rw,relatime shared:5 - "
    "nfs4 nfs01:/srv/nova\\040instances rw,vers=4.2,addr=10.0.0.9\n"
)


def test_mountinfo_nfs_line_with_escaped_space() -> None:
    (entry,) = parse_mountinfo(NFS_LINE, "c1")
    assert entry.fstype == "nfs4"
    assert entry.source == "nfs01:/srv/nova instances"
    assert entry.root == "/export"
    assert entry.propagation == ("shared:5",)
    assert mount_at([entry], "/var/lib/nova/instances") is entry
    assert containing_mount([entry], "/var/lib/nova/instances/_base/x") is entry
    assert containing_mount([entry], "/var/lib/novax") is None


def test_real_mountinfo_parses() -> None:
    entries = parse_mountinfo(Path("/proc/self/mountinfo").read_text(), "local")
    root = containing_mount(entries, "/")
    assert root is not None
    assert root.mount_point == "/"


@pytest.mark.parametrize("line", ["58 54 0:52 / /x rw", "a b c d e f - t s o", ""])
def test_malformed_mountinfo(line: str) -> None:
    if not line:
        assert parse_mountinfo("\n\n", "c1") == []
        return
    with pytest.raises(CloudtalesError, match=r"^c1:/proc/self/mountinfo:1: not a mountinfo line"):
        parse_mountinfo(line, "c1:/proc/self/mountinfo")


def test_stat_lines_and_registry() -> None:
    assert parse_path_identity("47 1 /var/lib/nova/instances\n", "c1").inode == 1
    with pytest.raises(CloudtalesError, match="expected 'DEVICE INODE MOUNTPOINT'"):
        parse_path_identity("stat: cannot statx", "c1")
    stats = parse_file_stats("4096 1795616817 12 /i/_base/a b\n", "c1")
    assert stats["/i/_base/a b"].mtime == 1795616817
    with pytest.raises(CloudtalesError, match="c1:1: not a 'SIZE MTIME INODE PATH' line"):
        parse_file_stats("x y\n", "c1")
    assert parse_storage_users('{"c1": 10.5, "c2": 3}', "r") == {"c1": 10.5, "c2": 3.0}
    assert parse_storage_users("", "r") == {}
    with pytest.raises(CloudtalesError, match="r: not JSON"):
        parse_storage_users("{c1:", "r")
    with pytest.raises(CloudtalesError, match="r: expected a JSON object"):
        parse_storage_users("[1]", "r")


# ------------------------------------------------------------------ options and removals


def settings(host: str, text: str) -> Any:
    return image_cache_settings(host, parse_nova_conf(text, f"{host}:/etc/nova/nova.conf"))


def test_image_cache_options_legacy_names_and_expansion() -> None:
    s = settings(
        "c1",
        "[DEFAULT]\nmy_ip = 10.0.0.1\nstate_path = /srv/nova\n"
        "image_cache_subdirectory_name = _base_$my_ip\nremove_unused_base_images = yes\n"
        "image_cache_manager_interval = -1\n",
    )
    assert s.instances_path == "/srv/nova/instances"
    assert s.cache_dir == "/srv/nova/instances/_base_10.0.0.1"
    assert s.per_host
    assert s.remove_unused_base_images
    assert s.manager_interval == -1
    assert not s.removes
    assert s.original_minimum_age == 86400


def test_image_cache_group_wins_over_default() -> None:
    s = settings(
        "c1",
        "[DEFAULT]\nremove_unused_base_images = True\nbase_dir_name = _old\n"
        "[image_cache]\nremove_unused_base_images = False\nsubdirectory_name = _cache\n",
    )
    assert (s.remove_unused_base_images, s.subdirectory_name) == (False, "_cache")
    assert s.cache_dir == "/var/lib/nova/instances/_cache"


def test_malformed_nova_conf_is_one_line() -> None:
    with pytest.raises(CloudtalesError, match=r"c1:/etc/nova/nova.conf:1: option before any"):
        settings("c1", "remove_unused_base_images = True\n")
    with pytest.raises(CloudtalesError, match=r"c1:/etc/nova/nova.conf:2: cannot parse line"):
        settings("c1", "[DEFAULT]\nthis line is not an option\n")
    with pytest.raises(
        CloudtalesError,
        match=r"c1:/etc/nova/nova.conf: \[DEFAULT\] remove_unused_base_images = 'maybe'",
    ):
        settings("c1", "[DEFAULT]\nremove_unused_base_images = maybe\n")
    with pytest.raises(CloudtalesError, match=r"\[image_cache\] manager_interval = '40m'"):
        settings("c1", "[image_cache]\nmanager_interval = 40m\n")


def test_cache_option_outcomes() -> None:
    shared = [settings(h, "[DEFAULT]\nremove_unused_base_images=True\n") for h in ("c1", "c2")]
    assert classify_cache_options(shared).outcome == "removes_from_shared_cache"
    # $my_ip unset: the name is not expanded, but it still differs per host
    per_host = [
        settings(h, "[DEFAULT]\nimage_cache_subdirectory_name=_base_$my_ip\n") for h in ("c1", "c2")
    ]
    out = classify_cache_options(per_host)
    assert out.outcome == "per_host_cache", out.summary
    off = [settings(h, "[image_cache]\nremove_unused_base_images=False\n") for h in ("c1", "c2")]
    assert classify_cache_options(off).outcome == "removal_disabled"
    assert classify_cache_options(shared[:1]).outcome == "removes_from_shared_cache"


def test_removal_lines_nova_central_syslog_and_newer_releases() -> None:
    base = f"/var/lib/nova/instances/_base/{SHA}"
    log = "nova.virt.libvirt.imagecache"
    nova = f"2012-12-19 12:10:59.123 4242 INFO {log} [-] Removing base file: {base}"
    tale = (
        "dair-ua-c03/nova.log:Dec 19 12:10:59 dair-ua-c03 2012-12-19 12:10:59 INFO "
        f"nova.virt.libvirt.imagecache [-] Removing base file: {base}_10"
    )
    newer = (
        f"2024-05-01 08:00:00.5 9 INFO {log} [None req-1 - - - - -] "
        f"Removing base or swap file: {base}"
    )
    r1, r2, r3 = (parse_removal_line("c1", line) for line in (nova, tale, newer))
    assert r1 is not None
    assert (r1.file, r1.when, r1.remover) == (base, "2012-12-19 12:10:59.123", "c1")
    assert r2 is not None
    assert (r2.file, r2.remover) == (f"{base}_10", "dair-ua-c03")
    assert r2.when == "2012-12-19 12:10:59"
    assert r3 is not None
    assert r3.file == base
    assert parse_removal_line("c1", "INFO Active base files: " + base) is None
    out = classify_removals([r1, r3], [base], ["c1"])
    assert out.outcome == "removed_by_imagecache"
    assert out.facts["removed_at"] == "2024-05-01 08:00:00.5"
    assert classify_removals([r2], [base], ["c1"]).outcome == "no_removal_logged"


# ------------------------------------------------------------------ shared instances path


def view(host: str, line: str, inode: int, users: dict[str, float] | None = None) -> PathView:
    (mount,) = parse_mountinfo(line, host)
    ident = parse_path_identity(f"40 {inode} {mount.mount_point}", host)
    return PathView(host, mount.mount_point, ident, mount, users or {}, 1000.0)


LOCAL_LINE = "30 1 254:0 / /var/lib/nova/instances rw - ext4 /dev/vda1 rw\n"
TMPFS_LINE = "30 1 0:47 / /var/lib/nova/instances rw shared:11 - tmpfs ctdi-nfs:/export rw\n"


def test_shared_path_outcomes() -> None:
    nfs = classify_instances_path([view("c1", NFS_LINE, 9), view("c2", NFS_LINE, 9)])
    assert nfs.outcome == "shared"
    assert "nfs4" in nfs.summary
    same_remote = classify_instances_path([view("c1", TMPFS_LINE, 1), view("c2", TMPFS_LINE, 1)])
    assert same_remote.outcome == "shared"
    assert same_remote.facts["shared_by"] == ["c1", "c2"]
    # two local disks may well have the same inode on the same device name: not shared
    local = classify_instances_path([view("c1", LOCAL_LINE, 2), view("c2", LOCAL_LINE, 2)])
    assert local.outcome == "not_shared"
    registry = classify_instances_path(
        [view("c1", LOCAL_LINE, 2, {"c1": 1000.0, "c2": 1000.0 - 50 * 3600})]
    )
    assert registry.outcome == "shared"
    assert "c2 50.0 h ago" in str(registry.facts["storage_users"])


def test_backing_outcomes_without_disks_of_interest() -> None:
    assert classify_backing_chains([]).outcome == "chain_intact"


# ------------------------------------------------------------------ checks, for real

NODE = """<node>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>{name}</name><uuid>{uuid}</uuid>
    <metadata><nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
      <nova:root type="image" uuid="{image}"/></nova:instance></metadata>
    <memory>524288</memory><os><type>hvm</type></os>
    <devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
      <source file='{disk}'/><backingStore type='file'><format type='raw'/>
      <source file='{base}'/><backingStore/></backingStore>
      <target dev='vda' bus='virtio'/></disk></devices>
    <test:runstate>5</test:runstate>
  </domain>
  <domain type='test'><name>diskless</name><memory>1024</memory><os><type>hvm</type></os>
  </domain>
</node>
"""

Ctx = Callable[..., CheckContext]


async def check(name: str, ctx: CheckContext, **params: Any) -> CheckResult:
    """Run a check type through the registry, as the executor does."""
    ctype = get_check_type(name)
    return await ctype.run(ctx, ctype.params.model_validate(params))


@pytest.fixture
def make_ctx(tmp_path: Path) -> Ctx:
    def make(runner: Runner | None = None, **host_vars: Any) -> CheckContext:
        hosts = {
            name: Host(name=name, transport="local", roles=["compute"], vars=dict(v))
            for name, v in (host_vars or {"c1": {}}).items()
        }
        inv = Inventory(hosts=hosts, source=str(tmp_path / "inventory.yaml"))
        return CheckContext(runner or LocalRunner(), inv, list(inv.hosts.values()), {}, 30.0)

    return make


def write_node(path: Path, disks: dict[str, Path], name: str = "instance-00000003") -> None:
    path.write_text(
        NODE.format(
            name=name,
            uuid="3d9f5071-4c6e-4081-af2b-3c5e7091b123",
            image=IMAGE_ID,
            disk=disks["inst1"],
            base=disks["base"],
        )
    )


async def test_libvirt_then_backing_chain_on_real_files(
    tmp_path: Path, disks: dict[str, Path], make_ctx: Ctx
) -> None:
    write_node(tmp_path / "node.xml", disks)
    ctx = make_ctx(c1={"libvirt_uri": "test:node.xml"})  # relative to the inventory
    found = await check("libvirt_disks", ctx)
    assert found.outcome == "file_disks"
    assert found.facts["domains"] == ["c1: diskless (running)", "c1: instance-00000003 (shut off)"]
    records = found.facts["disks"]
    assert isinstance(records, list)
    (disk,) = records
    assert disk["path"] == str(disks["inst1"])
    assert disk["image_id"] == IMAGE_ID
    disks_fact = found.facts["disks"]

    intact = await check("backing_chain", ctx, disks=disks_fact)
    assert intact.outcome == "chain_intact"

    disks["base"].unlink()
    broken = await check("backing_chain", ctx, disks=disks_fact)
    assert broken.outcome == "backing_missing"
    assert broken.facts["missing_files"] == [str(disks["base"])]
    assert broken.facts["image_ids"] == [f"{SHA}: image {IMAGE_ID}"]
    assert "No such file or directory" in broken.evidence[0].text

    disks["inst1"].unlink()
    gone = await check("backing_chain", ctx, disks=disks_fact)
    assert gone.outcome == "disk_missing"


async def test_libvirt_errors_are_one_line(tmp_path: Path, make_ctx: Ctx) -> None:
    with pytest.raises(CloudtalesError, match=r"^host c1: no libvirt_uri var in the inventory"):
        await check("libvirt_disks", make_ctx())
    missing = make_ctx(c1={"libvirt_uri": f"test://{tmp_path}/none.xml"})
    with pytest.raises(CloudtalesError, match=rf"^host c1: libvirt test://{tmp_path}/none.xml: "):
        await check("libvirt_disks", missing)
    (tmp_path / "empty.xml").write_text("<node/>\n")
    empty = await check("libvirt_disks", make_ctx(c1={"libvirt_uri": "test:empty.xml"}))
    assert empty.outcome == "no_file_disks"


async def test_backing_chain_rejects_bad_disk_lists(make_ctx: Ctx) -> None:
    ctx = make_ctx()
    for disks, message in (
        ("{facts.x.disks}", "must be a list"),
        ([], "no disks to follow"),
        ([{"host": "c9", "path": "/d"}], "outside this check"),
    ):
        with pytest.raises(CloudtalesError, match=message):
            await check("backing_chain", ctx, disks=disks)


async def test_log_grep_every_compute(tmp_path: Path, make_ctx: Ctx) -> None:
    base = f"/var/lib/nova/instances/_base/{SHA}"
    log = tmp_path / "nova-compute.log"
    log.write_text(
        "2026-11-24 12:56:56.957 1 INFO nova.virt.libvirt.imagecache [-] Base file too young "
        f"to remove: {base}\n"
        "2026-11-25 14:26:57.082 1 INFO nova.virt.libvirt.imagecache [-] "
        f"Removing base file: {base}\n"
    )
    ctx = make_ctx(
        c1={"nova_compute_log": str(log)}, c2={"nova_compute_log": str(tmp_path / "absent.log")}
    )
    res = await check("imagecache_log", ctx, files=[base])
    assert res.outcome == "removed_by_imagecache"
    assert (res.facts["removed_by"], res.facts["removed_at"]) == ("c1", "2026-11-25 14:26:57.082")
    assert res.facts["searched"] == ["c1"]
    assert "c2: cannot search" in str(res.facts["not_searched"])
    other = await check("imagecache_log", ctx, files=[base + "x"])
    assert other.outcome == "no_removal_logged"
    nowhere = make_ctx(c2={"nova_compute_log": str(tmp_path / "absent.log")})
    with pytest.raises(CloudtalesError, match="c2: cannot search .*absent.log"):
        await check("imagecache_log", nowhere, files=[base])


async def test_options_check_reads_each_nova_conf(tmp_path: Path, make_ctx: Ctx) -> None:
    for name, sub in (("c1", "_base"), ("c2", "_base")):
        (tmp_path / f"{name}.conf").write_text(f"[DEFAULT]\nimage_cache_subdirectory_name={sub}\n")
    ctx = make_ctx(
        c1={"nova_conf": str(tmp_path / "c1.conf")}, c2={"nova_conf": str(tmp_path / "c2.conf")}
    )
    res = await check("imagecache_options", ctx)
    assert res.outcome == "removes_from_shared_cache"
    assert res.facts["instances_path"] == "/var/lib/nova/instances"
    (tmp_path / "c2.conf").write_text("[DEFAULT\n")
    with pytest.raises(CloudtalesError, match=r"c2:.*c2.conf:1: option before any"):
        await check("imagecache_options", ctx)


async def test_shared_check_local_and_recorded_nfs(tmp_path: Path, make_ctx: Ctx) -> None:
    local = await check("instances_path_shared", make_ctx(), path=str(tmp_path))
    assert local.outcome == "not_shared"

    mountinfo = "1 0 254:0 / / rw - ext4 /dev/vda1 rw\n" + NFS_LINE
    recordings = [
        Recording("*", r"^stat ", stdout="52 9 /var/lib/nova/instances\n"),
        Recording("*", r"mountinfo", stdout=mountinfo),
        Recording("*", r"^date ", stdout='1795616817\n{"c1": 1795616800, "c2": 1795436816}'),
    ]
    ctx = make_ctx(ReplayRunner(recordings), c1={}, c2={})
    shared = await check("instances_path_shared", ctx)
    assert shared.outcome == "shared"
    assert shared.facts["fstype"] == "nfs4"
    assert shared.facts["source"] == "nfs01:/srv/nova instances"
    assert "c2 50.0 h ago" in str(shared.facts["storage_users"])
