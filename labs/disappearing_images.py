"""The "Disappearing Images" tale as a lab: two computes sharing one instances path.

Hosts (network namespaces ``ct-di-*``), each with real OpenSSH on a management network
bridged in the root namespace (``ctdi-mgmt``, 10.250.4.0/24)::

    compute1 10.250.4.1   instance-00000001 (cloud image), running
    compute2 10.250.4.2   instance-00000002 (cloud image), instance-00000003 (a user's
                          snapshot), both shut off: compute2 has been down for 50 hours

The "NFS share": one tmpfs mounted in the root namespace at RUN_DIR/export with an
NFS-style source name (``ctdi-nfs:/export/nova/instances``). Each compute's sshd starts
in its own mount namespace (``ip netns exec`` makes one) where that tmpfs is bind-mounted
on /var/lib/nova/instances (and made ``shared``), and a per-host directory on
/var/log/nova; ``ip netns exec`` also binds /etc/netns/NS/nova over /etc/nova, so each
compute has its own nova.conf. Over ssh each compute's mountinfo shows
``/var/lib/nova/instances ... - tmpfs ctdi-nfs:/export/nova/instances``: both see the same
filesystem and the same inodes. There is no NFS in this kernel, so the type is tmpfs;
the checks judge sharing by source and inode (and nova's own registry), never by the
lab's name. The empty mount points /var/lib/nova/instances and /var/log/nova are created
on the root filesystem if missing (and removed again by ``down`` if still empty).

Disks are real: raw base files in ``_base/<sha1(image id)>`` and qcow2 overlays
``qemu-img create -f qcow2 -b /var/lib/nova/instances/_base/<sha1> -F raw``, made inside
the compute's mount namespace so the backing paths are the ones nova would write.
libvirt is its test driver: one ``node.xml`` per compute (``test:///RUN_DIR/hosts/NAME/
node.xml``, the inventory's ``libvirt_uri``) with each domain's disk and <backingStore>.

nova's image cache manager is ``nova_imagecache_emulator.py``, run inside each compute's
namespaces (``nsenter`` into its sshd) over a 50-hour timeline: compute2's last pass,
compute1's passes while compute2 still counts (24 h registry), the first pass without it
(the snapshot's base is "too young to remove"), and the pass now, which deletes it and
logs ``Removing base file: /var/lib/nova/instances/_base/<sha1>`` in compute1's
nova-compute.log. ``--healthy``: ``image_cache_subdirectory_name = _base_$my_ip``, so each
compute caches (and cleans) its own copy, and nothing is deleted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from engine.errors import CloudtalesError
from labs import netns
from labs.base import RUN_ROOT, LabInfo, LabState, LabStatus, Progress, quiet
from labs.disappearing_images_world import (
    COMPUTES,
    INSTANCES,
    INSTANCES_PATH,
    NOVA_CONF,
    NOVA_LOG,
    NOVA_LOG_DIR,
    TIMELINE,
    ComputePlan,
    base_dir_name,
    instances_db,
    node_xml,
    nova_conf,
)

MODE = "netns+shared-tmpfs"
NS_PREFIX = "ct-di-"
ROOT_PREFIX = "ctdi-"
MGMT_BRIDGE = f"{ROOT_PREFIX}mgmt"
MGMT_NET = "10.250.4.0/24"
MGMT_GATEWAY = "10.250.4.254/24"
NFS_SOURCE = "ctdi-nfs:/export/nova/instances"
ETC_NETNS = Path("/etc/netns")
MOUNT_POINTS = (Path("/etc/nova"), Path(INSTANCES_PATH), Path(NOVA_LOG_DIR))
PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOOLS = {"nsenter": "util-linux", "mount": "mount", "umount": "mount", "qemu-img": "qemu-utils"}

# runs as `sh -c SETUP NAME EXPORT LOGDIR SSHD ARGS...` in the host's fresh mount namespace
SETUP = (
    'echo "$0" > /proc/sys/kernel/hostname'
    f' && mount --bind "$1" {INSTANCES_PATH} && mount --make-shared {INSTANCES_PATH}'
    f' && mount --bind "$2" {NOVA_LOG_DIR}'
    ' && shift 2 && exec "$@"'
)


def _ssh_host(c: ComputePlan) -> netns.SshHost:
    return netns.SshHost(c.name, NS_PREFIX + c.name, c.mgmt_ip)


def _rmdir_if_empty(path: Path) -> bool:
    try:
        path.rmdir()
    except OSError:
        return False
    return True


def _mounted(path: Path) -> bool:
    target = str(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split(" ")[4] == target for line in f)


class DisappearingImagesLab:
    name = "disappearing-images"
    title = "Disappearing Images"

    def __init__(self) -> None:
        self.run_dir = RUN_ROOT / self.name

    # ------------------------------------------------------------ paths

    def inventory_path(self) -> Path:
        return self.run_dir / "inventory.yaml"

    @property
    def export_dir(self) -> Path:
        """The shared "NFS" filesystem, as the root namespace sees it."""
        return self.run_dir / "export"

    def log_dir(self, c: ComputePlan) -> Path:
        return netns.sshd_dir(self.run_dir, c.name) / "log"

    def node_xml_path(self, c: ComputePlan) -> Path:
        return netns.sshd_dir(self.run_dir, c.name) / "node.xml"

    def conf_path(self, c: ComputePlan) -> Path:
        return ETC_NETNS / (NS_PREFIX + c.name) / "nova" / "nova.conf"

    @property
    def _state_path(self) -> Path:
        return self.run_dir / "state.json"

    # ------------------------------------------------------------ public API

    def up(self, healthy: bool = False, progress: Progress = quiet) -> LabInfo:
        self._preflight()
        state = LabState.load(self._state_path)
        if state and state.complete and state.healthy == healthy and not self._problems():
            progress("lab already up")
            return self._info(state)
        if state or netns.namespaces(NS_PREFIX) or netns.links(prefix=ROOT_PREFIX):
            progress("removing the previous lab")
            self.down()
        started = time.monotonic()
        state = LabState(mode=MODE, healthy=healthy)
        self._build(state, progress)
        state.complete = True
        state.extra["up_seconds"] = round(time.monotonic() - started, 3)
        state.save(self._state_path)
        return self._info(state)

    def down(self) -> list[str]:
        netns.require_root("the disappearing-images lab")
        removed: list[str] = []
        state = LabState.load(self._state_path)
        removed += [f"sshd pid {pid}" for pid in netns.stop_sshds(self.run_dir)]
        for ns in netns.namespaces(NS_PREFIX):
            removed += [f"pid {pid} in {ns}" for pid in netns.stop_pids(netns.namespace_pids(ns))]
            netns.delete_namespace(ns)
            removed.append(f"namespace {ns}")
        for dev in netns.links(prefix=ROOT_PREFIX):
            netns.delete_link(dev)
            removed.append(f"link {dev}")
        for d in sorted(ETC_NETNS.glob(NS_PREFIX + "*")):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(str(d))
        if self.export_dir.exists() and _mounted(self.export_dir):
            if netns.run(["umount", str(self.export_dir)], check=False).returncode != 0:
                netns.run(["umount", "-l", str(self.export_dir)], check=False)
            removed.append(f"mount {self.export_dir}")
        for created in reversed(state.created_paths if state else []):
            if _rmdir_if_empty(Path(created)):
                removed.append(created)
        if self.run_dir.exists():
            shutil.rmtree(self.run_dir, ignore_errors=True)
            removed.append(str(self.run_dir))
        for parent in (RUN_ROOT, RUN_ROOT.parent):
            _rmdir_if_empty(parent)
        return removed

    def status(self) -> LabStatus:
        state = LabState.load(self._state_path)
        present = netns.namespaces(NS_PREFIX)
        details = [f"namespaces: {', '.join(present) or 'none'}"]
        if state is None:
            if present:
                details.append("no state file: a half-built lab, run down")
            return LabStatus(self.name, False, None, None, details)
        problems = self._problems()
        details += self._describe(state)
        if not state.complete:
            details.append("build did not finish: run down (or up again)")
        details += [f"problem: {p}" for p in problems]
        return LabStatus(
            self.name, state.complete and not problems, state.mode, state.healthy, details
        )

    # ------------------------------------------------------------ building

    def _preflight(self) -> None:
        netns.require_root("the disappearing-images lab")
        netns.require_tools({**netns.BASE_TOOLS, **TOOLS})
        owner = netns.route_owner(MGMT_NET)
        if owner not in (None, MGMT_BRIDGE):
            raise CloudtalesError(
                f"{MGMT_NET} is already routed via {owner}: the lab's management network clashes"
            )

    def _build(self, state: LabState, progress: Progress) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        wanted = [ETC_NETNS, *MOUNT_POINTS]
        # recorded before creating them, so down after a crash removes them too
        state.created_paths = [str(p) for d in wanted for p in (*d.parents, d) if not p.exists()]
        state.created_paths = list(dict.fromkeys(state.created_paths))
        state.save(self._state_path)
        for d in wanted:
            d.mkdir(parents=True, exist_ok=True)

        progress(f"mounting the shared instances filesystem ({NFS_SOURCE})")
        self.export_dir.mkdir(exist_ok=True)
        netns.run(
            ["mount", "-t", "tmpfs", "-o", "size=256m,mode=0755", NFS_SOURCE, str(self.export_dir)]
        )

        progress("creating namespaces and the management network")
        netns.add_bridge(MGMT_BRIDGE)
        netns.add_address(MGMT_BRIDGE, MGMT_GATEWAY)
        netns.link_up(MGMT_BRIDGE)
        for c in COMPUTES:
            ns = NS_PREFIX + c.name
            netns.add_namespace(ns)
            netns.add_veth(c.root_veth, "mgmt0", peer_ns=ns)
            netns.set_master(c.root_veth, MGMT_BRIDGE)
            netns.link_up(c.root_veth)
            netns.add_address("mgmt0", f"{c.mgmt_ip}/24", ns=ns)
            netns.link_up("mgmt0", ns=ns)

        progress("writing nova.conf, the nova database and libvirt's node.xml")
        for c in COMPUTES:
            conf = self.conf_path(c)
            conf.parent.mkdir(parents=True, exist_ok=True)
            conf.write_text(nova_conf(c, state.healthy))
            self.log_dir(c).mkdir(parents=True, exist_ok=True)
            self.node_xml_path(c).write_text(node_xml(c, state.healthy))
        (self.run_dir / "nova-db.json").write_text(instances_db())

        progress("generating ssh keys")
        hosts = [_ssh_host(c) for c in COMPUTES]
        files = netns.prepare_ssh(self.run_dir, hosts, comment="cloudtales-disappearing-images")
        progress(f"starting sshd x{len(hosts)} (each with the shared instances mount)")
        self._start_sshds()

        progress("creating base images and qcow2 overlays (qemu-img)")
        self._make_disks(state.healthy)
        progress("replaying 50 hours of image cache manager passes")
        for when, who in TIMELINE:
            self._imagecache_pass(who, time.time() - when)

        self._write_inventory(state, files)

    def _start_sshds(self, timeout: float = 10.0) -> None:
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        sshd = netns.tool_path("sshd") or "/usr/sbin/sshd"
        for c in COMPUTES:
            d = netns.sshd_dir(self.run_dir, c.name)
            (d / "sshd.pid").unlink(missing_ok=True)
            argv = netns.in_ns(NS_PREFIX + c.name, [
                "unshare", "--uts", "--", "sh", "-c", SETUP, c.name, str(self.export_dir),
                str(self.log_dir(c)), sshd, "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log"),
            ])  # fmt: skip
            netns.run(argv, timeout=timeout)  # sshd daemonizes: this returns once it forked
        deadline = time.monotonic() + timeout
        for c in COMPUTES:  # the pid file is written once sshd listens
            while netns.sshd_pid(self.run_dir, c.name) is None:
                if time.monotonic() > deadline:
                    raise CloudtalesError(f"sshd on {c.name} ({c.mgmt_ip}) did not start")
                time.sleep(0.005)

    def in_compute(self, c: ComputePlan | str, argv: list[str]) -> list[str]:
        """argv run inside a compute's namespaces (its sshd's mount, network and UTS)."""
        name = c if isinstance(c, str) else c.name
        pid = netns.sshd_pid(self.run_dir, name)
        if pid is None:
            raise CloudtalesError(f"{name}: sshd is not running (lab down?)")
        return ["nsenter", "-t", str(pid), "-m", "-n", "-u", "--", *argv]

    def _make_disks(self, healthy: bool) -> None:
        seeded = time.time() - 72 * 3600  # the images were downloaded three days ago
        done: set[Path] = set()
        for inst in INSTANCES:
            cache = self.export_dir / base_dir_name(inst.host, healthy)
            base = cache / inst.image.fingerprint
            if base not in done:
                cache.mkdir(exist_ok=True)
                netns.run(["qemu-img", "create", "-q", "-f", "raw", str(base), inst.image.size])
                with base.open("r+b") as f:  # a recognisable first sector
                    f.write(f"cloudtales lab image {inst.image.name} {inst.image.id}\n".encode())
                done.add(base)
            (self.export_dir / inst.uuid).mkdir()
            backing = f"{INSTANCES_PATH}/{base.parent.name}/{base.name}"
            disk = f"{INSTANCES_PATH}/{inst.uuid}/disk"
            netns.run(self.in_compute(inst.host, [
                "qemu-img", "create", "-q", "-f", "qcow2", "-b", backing, "-F", "raw", disk,
            ]))  # fmt: skip
        for base in done:
            os.utime(base, (seeded, seeded))

    def _imagecache_pass(self, host: str, at: float) -> None:
        argv = self.in_compute(host, [
            sys.executable, "-m", "labs.nova_imagecache_emulator", "--config-file", NOVA_CONF,
            "--instances-db", str(self.run_dir / "nova-db.json"), "--log-file", NOVA_LOG,
            "--now", f"{at:.3f}",
        ])  # fmt: skip
        res = subprocess.run(
            argv, capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT, check=False
        )
        if res.returncode != 0:
            said = (res.stderr.strip().splitlines() or ["no output"])[-1]
            raise CloudtalesError(f"image cache pass on {host} failed: {said}")

    def _write_inventory(self, state: LabState, files: netns.SshFiles) -> None:
        hosts = {
            c.name: {
                "address": c.mgmt_ip,
                "port": 22,
                "roles": ["compute"],
                "vars": {
                    "ip": c.mgmt_ip,
                    "nova_conf": NOVA_CONF,
                    "nova_compute_log": NOVA_LOG,
                    "instances_path": INSTANCES_PATH,
                    # production: qemu+ssh://root@HOST/system
                    "libvirt_uri": f"test://{self.node_xml_path(c)}",
                    "netns": NS_PREFIX + c.name,
                },
            }
            for c in COMPUTES
        }
        doc = {
            "name": "disappearing-images-lab",
            "ssh": {
                "known_hosts": str(files.known_hosts),
                "client_keys": [str(files.client_key)],
                "username": "root",
            },
            "hosts": hosts,
        }
        header = f"# written by `cloudtales lab up {self.name}` ({state.mode})\n"
        self.inventory_path().write_text(header + yaml.safe_dump(doc, sort_keys=False))

    # ------------------------------------------------------------ inspecting

    def _info(self, state: LabState) -> LabInfo:
        return LabInfo(
            self.name, self.inventory_path(), state.mode, state.healthy, [c.name for c in COMPUTES]
        )

    def _problems(self) -> list[str]:
        problems: list[str] = []
        present = set(netns.namespaces(NS_PREFIX))
        missing = [NS_PREFIX + c.name for c in COMPUTES if NS_PREFIX + c.name not in present]
        if missing:
            problems.append(f"namespaces missing: {', '.join(missing)}")
        if MGMT_BRIDGE not in netns.links(prefix=ROOT_PREFIX):
            problems.append(f"management bridge {MGMT_BRIDGE} missing")
        dead = [c.name for c in COMPUTES if netns.sshd_pid(self.run_dir, c.name) is None]
        if dead:
            problems.append(f"sshd not running on: {', '.join(dead)}")
        if not (self.export_dir.exists() and _mounted(self.export_dir)):
            problems.append(f"shared instances filesystem not mounted at {self.export_dir}")
        if not self.inventory_path().exists():
            problems.append(f"{self.inventory_path()} missing")
        return problems

    def _describe(self, state: LabState) -> list[str]:
        lines = [
            f"{state.mode}, {'healthy' if state.healthy else 'faulty'}"
            + (f", built in {state.extra['up_seconds']} s" if "up_seconds" in state.extra else ""),
            f"shared instances path: {NFS_SOURCE} (tmpfs) at {self.export_dir}, "
            f"bind-mounted on {INSTANCES_PATH} in each compute",
            "sshd: "
            + ", ".join(
                f"{c.name} {c.mgmt_ip}:22 pid {netns.sshd_pid(self.run_dir, c.name) or 'dead'}"
                for c in COMPUTES
            ),
        ]
        for inst in INSTANCES:
            cache = base_dir_name(inst.host, state.healthy)
            base = self.export_dir / cache / inst.image.fingerprint
            there = "present" if base.exists() else "MISSING"
            lines.append(f"{inst.host.name} {inst.name}: {cache}/{base.name} {there}")
        for c in COMPUTES:
            log = self.log_dir(c) / Path(NOVA_LOG).name
            text = log.read_text() if log.exists() else ""
            lines.append(f"{c.name} {NOVA_LOG}: {text.count('Removing base file: ')} removal(s)")
        if self.inventory_path().exists():
            lines.append(f"inventory: {self.inventory_path()}")
        return lines
