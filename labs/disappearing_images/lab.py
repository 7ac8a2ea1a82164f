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
import subprocess
import sys
import time
from pathlib import Path

from engine.errors import CloudtalesError
from labs.core import netns
from labs.core.base import LabState, Progress
from labs.core.netns_lab import ETC_NETNS, NetnsLab, wire_mgmt_bridge
from labs.disappearing_images.world import (
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
MOUNT_POINTS = (Path("/etc/nova"), Path(INSTANCES_PATH), Path(NOVA_LOG_DIR))
PROJECT_ROOT = Path(__file__).resolve().parents[2]
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


def _mounted(path: Path) -> bool:
    target = str(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split(" ")[4] == target for line in f)


class DisappearingImagesLab(NetnsLab):
    name = "disappearing-images"
    title = "Disappearing Images"
    ns_prefix = NS_PREFIX
    root_prefix = ROOT_PREFIX
    mgmt_bridge = MGMT_BRIDGE
    mgmt_net = MGMT_NET
    mode = MODE
    tools = TOOLS
    host_names = tuple(c.name for c in COMPUTES)

    # ------------------------------------------------------------ paths

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

    # ------------------------------------------------------------ life cycle hooks

    def _cleanup_extras(self, state: LabState | None) -> list[str]:
        if not (self.export_dir.exists() and _mounted(self.export_dir)):
            return []
        if netns.run(["umount", str(self.export_dir)], check=False).returncode != 0:
            netns.run(["umount", "-l", str(self.export_dir)], check=False)
        return [f"mount {self.export_dir}"]

    # ------------------------------------------------------------ building

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
        for c in COMPUTES:
            netns.add_namespace(NS_PREFIX + c.name)
        ports = [(NS_PREFIX + c.name, c.root_veth, "mgmt0", c.mgmt_ip) for c in COMPUTES]
        wire_mgmt_bridge(MGMT_BRIDGE, MGMT_GATEWAY, ports)

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
            sys.executable, "-m", "labs.disappearing_images.nova_imagecache_emulator",
            "--config-file", NOVA_CONF,
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
        self._write_inventory_doc(files, hosts, state.mode)

    # ------------------------------------------------------------ inspecting

    def _problems(self, state: LabState) -> list[str]:
        problems = self._base_problems(
            [NS_PREFIX + c.name for c in COMPUTES], [c.name for c in COMPUTES]
        )
        if not (self.export_dir.exists() and _mounted(self.export_dir)):
            problems.append(f"shared instances filesystem not mounted at {self.export_dir}")
        return problems + self._inventory_problems()

    def _describe(self, state: LabState) -> list[str]:
        lines = [
            self._summary(state),
            f"shared instances path: {NFS_SOURCE} (tmpfs) at {self.export_dir}, "
            f"bind-mounted on {INSTANCES_PATH} in each compute",
            self._sshd_line((c.name, c.mgmt_ip) for c in COMPUTES),
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
        return lines + self._inventory_lines()
