"""The Disappearing Images lab and nova's image cache manager emulator, for real.

The emulator tests run on temporary directories with real qcow2 files (qemu-img) and
need no root. The lab tests run in file order against one module-scoped lab: faulty
first (ssh into both computes, then the whole investigation), idempotency, the healthy
rebuild, then the teardown cases.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.executor import autopilot
from engine.playbook.graph import load_valid_graph
from engine.remote.factory import make_runner
from engine.remote.inventory import load_inventory
from engine.walker import Walker
from labs.core import netns
from labs.core.base import LabState
from labs.disappearing_images import nova_imagecache_emulator as emu
from labs.disappearing_images.lab import (
    MGMT_BRIDGE,
    NFS_SOURCE,
    NS_PREFIX,
    ROOT_PREFIX,
    DisappearingImagesLab,
)
from labs.disappearing_images.world import (
    CLOUD_IMAGE,
    COMPUTES,
    INSTANCES,
    SNAPSHOT,
    ImagePlan,
    instances_db,
)
from tests.labs.conftest import fresh_lab

HOUR = 3600.0
INSTANCES_PATH = "/var/lib/nova/instances"

# ---------------------------------------------------------------- the emulator, no root


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True, text=True)


class Cloud:
    """Two computes' view of one instances directory, with the emulator's inputs."""

    def __init__(self, root: Path, subdir: str = "_base", **options: str) -> None:
        self.root = root
        self.instances = root / "instances"
        self.instances.mkdir(parents=True)
        self.db = root / "db.json"
        self.db.write_text(instances_db())
        self.confs: dict[str, Path] = {}
        for c in COMPUTES:
            conf = root / f"{c.name}.conf"
            extra = "".join(f"{k} = {v}\n" for k, v in options.items())
            conf.write_text(
                f"[DEFAULT]\nhost = {c.name}\nmy_ip = {c.mgmt_ip}\n"
                f"instances_path = {self.instances}\nimage_cache_subdirectory_name = {subdir}\n"
                + extra
            )
            self.confs[c.name] = conf
        for inst in INSTANCES:
            cache = emu.load_config(str(self.confs[inst.host.name]))
            base = Path(cache.base_dir) / inst.image.fingerprint
            if not base.exists():
                base.parent.mkdir(exist_ok=True)
                qemu_img("create", "-q", "-f", "raw", str(base), "16M")
            disk = self.instances / inst.uuid / "disk"
            disk.parent.mkdir()
            qemu_img("create", "-q", "-f", "qcow2", "-b", str(base), "-F", "raw", str(disk))

    def base(self, image: ImagePlan, subdir: str = "_base") -> Path:
        return self.instances / subdir / image.fingerprint

    def run(self, host: str, hours_ago: float, now: float) -> tuple[emu.PassResult, str]:
        log = self.root / f"{host}.log"
        conf = emu.load_config(str(self.confs[host]))
        with log.open("a") as stream:
            result = emu.run_pass(
                conf, emu.load_instances(str(self.db)), emu.NovaLog(stream, now - hours_ago * HOUR)
            )
        return result, log.read_text()


def test_emulator_replays_the_tale_on_real_files(tmp_path: Path) -> None:
    now = time.time()
    cloud = Cloud(tmp_path)
    snap, cloud_base = cloud.base(SNAPSHOT), cloud.base(CLOUD_IMAGE)
    os.utime(snap, (now - 72 * HOUR, now - 72 * HOUR))

    cloud.run("compute2", 50, now)  # its last pass before it locks up
    result, _ = cloud.run("compute1", 26.2, now)  # compute2 still counts (under 24 h)
    assert sorted(result.active) == sorted([str(cloud_base), str(snap)])
    assert os.path.getmtime(snap) == pytest.approx(now - 26.2 * HOUR, abs=1)  # kept young

    result, log = cloud.run("compute1", 25.5, now)  # compute2 expired: unknown, too young
    assert result.removable == [str(snap)]
    assert result.too_young == [str(snap)]
    assert f"WARNING nova.virt.libvirt.imagecache [-] Unknown base file: {snap}" in log
    assert snap.exists()

    result, log = cloud.run("compute1", 0, now)
    assert result.removed == [str(snap)]
    assert not snap.exists()
    assert cloud_base.exists()  # compute1's own instance uses it
    last = log.splitlines()[-1]
    assert last.endswith(f"INFO nova.virt.libvirt.imagecache [-] Removing base file: {snap}")
    assert last.startswith(time.strftime("%Y-%m-%d %H:%M", time.localtime(now)))
    registry = json.loads((cloud.instances / "compute_nodes").read_text())
    assert registry["compute2"] == pytest.approx(now - 50 * HOUR, abs=1)


def test_emulator_keeps_files_with_removal_off_or_per_host_cache(tmp_path: Path) -> None:
    now = time.time()
    old = now - 72 * HOUR
    off = Cloud(tmp_path / "off", remove_unused_base_images="False")
    os.utime(off.base(SNAPSHOT), (old, old))
    result, log = off.run("compute1", 0, now)
    assert result.removable == [str(off.base(SNAPSHOT))]
    assert result.removed == []
    assert "Removing base file" not in log
    assert off.base(SNAPSHOT).exists()

    per_host = Cloud(tmp_path / "per-host", subdir="_base_$my_ip")
    mine = per_host.base(CLOUD_IMAGE, "_base_10.250.4.1")
    theirs = per_host.base(SNAPSHOT, "_base_10.250.4.2")
    for f in (mine, theirs):
        os.utime(f, (old, old))
    result, log = per_host.run("compute1", 0, now)
    assert result.active == [str(mine)]
    assert result.removable == []
    assert theirs.exists()
    assert "Removing base file" not in log

    disabled = Cloud(tmp_path / "disabled", image_cache_manager_interval="-1")
    result, log = disabled.run("compute1", 0, now)
    assert result == emu.PassResult()
    assert log == ""
    assert not (disabled.instances / "compute_nodes").exists()


# ---------------------------------------------------------------- the lab


def ssh(lab: DisappearingImagesLab, address: str, command: str) -> str:
    argv = [
        "ssh",
        "-i",
        str(lab.run_dir / "id_ed25519"),
        "-o",
        f"UserKnownHostsFile={lab.run_dir / 'known_hosts'}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=5",
        f"root@{address}",
        command,
    ]
    res = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=20)
    return res.stdout + res.stderr


def leftovers(lab: DisappearingImagesLab) -> list[str]:
    found = netns.namespaces(NS_PREFIX) + netns.links(prefix=ROOT_PREFIX)
    found += [str(p) for p in Path("/etc/netns").glob(f"{NS_PREFIX}*")]
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [
        f"mount {lab.export_dir}"
        for line in mounts.splitlines()
        if line.split(" ")[4] == str(lab.export_dir)
    ]
    return found


def investigate(lab: DisappearingImagesLab) -> Walker:
    graph = load_valid_graph()
    inventory = load_inventory(lab.inventory_path())
    walker = Walker.start(graph, "instance-wont-start-backing-missing")

    async def walk() -> None:
        runner = make_runner(inventory)
        try:
            await autopilot(walker, runner, inventory)
        finally:
            await runner.close()

    asyncio.run(walk())
    return walker


@pytest.fixture(scope="module")
def lab() -> Iterator[DisappearingImagesLab]:
    yield from fresh_lab("disappearing-images", DisappearingImagesLab)


@pytest.mark.lab
def test_faulty_lab_lost_the_snapshot_base(lab: DisappearingImagesLab) -> None:
    status = lab.status()
    assert status.running, status.details
    assert status.healthy is False
    inv = load_inventory(lab.inventory_path())
    assert sorted(inv.hosts) == ["compute1", "compute2"]
    for c in COMPUTES:
        host = inv.host(c.name)
        assert (host.address, host.roles) == (c.mgmt_ip, ["compute"])
        assert host.vars["libvirt_uri"] == f"test://{lab.node_xml_path(c)}"
    assert not (lab.export_dir / "_base" / SNAPSHOT.fingerprint).exists()
    assert (lab.export_dir / "_base" / CLOUD_IMAGE.fingerprint).exists()
    log = (lab.log_dir(COMPUTES[0]) / "nova-compute.log").read_text()
    removal = f"Removing base file: {INSTANCES_PATH}/_base/{SNAPSHOT.fingerprint}"
    assert log.count(removal) == 1
    assert "Base file too young to remove" in log
    assert "Removing base file" not in (lab.log_dir(COMPUTES[1]) / "nova-compute.log").read_text()


@pytest.mark.lab
def test_both_computes_see_one_shared_instances_path(lab: DisappearingImagesLab) -> None:
    seen = {}
    for c in COMPUTES:
        out = ssh(
            lab,
            c.mgmt_ip,
            f"hostname; stat -L -c '%d %i' {INSTANCES_PATH}; "
            "grep ' /var/lib/nova/instances ' /proc/self/mountinfo; "
            "grep subdirectory /etc/nova/nova.conf",
        )
        name, ident, mount, conf = out.splitlines()
        assert name == c.name
        assert f" - tmpfs {NFS_SOURCE} " in mount
        assert "shared:" in mount
        assert conf == "image_cache_subdirectory_name = _base"
        seen[c.name] = ident
    assert seen["compute1"] == seen["compute2"]
    # what compute1 writes, compute2 reads at once: one filesystem
    ssh(lab, "10.250.4.1", f"echo hello > {INSTANCES_PATH}/probe")
    assert ssh(lab, "10.250.4.2", f"cat {INSTANCES_PATH}/probe; rm {INSTANCES_PATH}/probe") == (
        "hello\n"
    )
    broken = next(i for i in INSTANCES if i.image is SNAPSHOT)
    out = ssh(
        lab, "10.250.4.2", f"qemu-img info --backing-chain -U {INSTANCES_PATH}/{broken.uuid}/disk"
    )
    assert f"Could not open '{INSTANCES_PATH}/_base/{SNAPSHOT.fingerprint}'" in out


@pytest.mark.lab
def test_investigation_names_the_file_the_node_and_the_time(lab: DisappearingImagesLab) -> None:
    walker = investigate(lab)
    assert walker.path[-1] == "imagecache-removed-shared-base"
    facts = walker.facts
    missing = f"{INSTANCES_PATH}/_base/{SNAPSHOT.fingerprint}"
    assert facts["di-backing-chain.missing_files"] == [missing]
    assert facts["di-imagecache-log.removed_file"] == missing
    assert facts["di-imagecache-log.removed_by"] == "compute1"
    assert str(facts["di-imagecache-log.removed_at"]).startswith(time.strftime("%Y-%m-%d"))
    assert facts["di-instances-shared.outcome"] == "shared"


@pytest.mark.lab
def test_up_again_is_a_no_op(lab: DisappearingImagesLab) -> None:
    pids = [netns.sshd_pid(lab.run_dir, c.name) for c in COMPUTES]
    said: list[str] = []
    lab.up(progress=said.append)
    assert said == ["lab already up"]
    assert [netns.sshd_pid(lab.run_dir, c.name) for c in COMPUTES] == pids


@pytest.mark.lab
def test_healthy_lab_keeps_every_base(lab: DisappearingImagesLab) -> None:
    info = lab.up(healthy=True)
    assert info.healthy
    for inst in INSTANCES:
        assert (lab.export_dir / f"_base_{inst.host.mgmt_ip}" / inst.image.fingerprint).exists()
    assert not (lab.export_dir / "_base").exists()
    for c in COMPUTES:
        assert "Removing base file" not in (lab.log_dir(c) / "nova-compute.log").read_text()
    assert investigate(lab).path[-1] == "di-backing-chain-intact"


@pytest.mark.lab
def test_down_after_a_crash_removes_everything(lab: DisappearingImagesLab) -> None:
    lab.up()
    state = LabState.load(lab.run_dir / "state.json")
    assert state is not None
    state.complete = False  # as if the build had died half way
    state.save(lab.run_dir / "state.json")
    pids = [netns.sshd_pid(lab.run_dir, c.name) for c in COMPUTES]
    netns.stop_pids([p for p in pids if p is not None])
    assert not lab.status().running
    removed = lab.down()
    assert f"link {MGMT_BRIDGE}" in removed
    assert f"mount {lab.export_dir}" in removed
    assert leftovers(lab) == []
    assert not lab.run_dir.exists()
    for created in state.created_paths:
        assert not Path(created).exists()
    assert lab.down() == []
