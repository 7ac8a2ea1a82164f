"""A faithful stand-in for one pass of nova's image cache manager (libvirt driver).

nova-compute cannot run here, so this module replays what its periodic task
``ComputeManager._run_image_cache_manager_pass`` and ``nova/virt/libvirt/imagecache.py``
do, with the same options, the same decisions and the same log lines, on real files:

1. The pass is skipped when ``[image_cache] manager_interval`` is negative.
2. ``storage_users.register_storage_use``: this host writes its name and the time into
   ``INSTANCES_PATH/compute_nodes`` (a JSON registry, under a file lock). Every host that
   registered within the last 24 hours counts as a user of this instances path.
3. The instances of those hosts are taken from the database (here: a JSON file standing in
   for nova's ``instances`` table). An instance on a host that has not registered for a
   day (a node that is down) is *not* counted: this is the tale.
4. ``_list_base_images``: every file in ``INSTANCES_PATH/SUBDIRECTORY_NAME`` named by a
   40-character SHA-1 (an original) or SHA-1 + ``_suffix`` (a resized copy) is
   "unexplained" until an instance explains it.
5. For each image in use, ``fingerprint = sha1(image_id)``; its base files are active
   and get their mtime refreshed (``utime``), which is how a live node keeps them young.
6. ``_list_backing_images``: an instance directory of a counted instance whose ``disk``
   names a backing file in the cache (``qemu-img info``) makes that file active too.
7. Whatever is still unexplained is logged as ``Unknown base file`` and is removable;
   with ``remove_unused_base_images`` each removable file older than
   ``remove_unused_original_minimum_age_seconds`` (originals) or
   ``remove_unused_resized_minimum_age_seconds`` is deleted, logging
   ``Removing base file: PATH`` (newer releases print "Removing base or swap file:").

Log lines use oslo.log's default format at INFO (``debug = False``)::

    2026-11-25 12:10:59.123 4242 INFO nova.virt.libvirt.imagecache [-] Removing base file: ...

Usage (the lab runs it inside a compute's namespaces, so the paths are the compute's)::

    python -m labs.disappearing_images.nova_imagecache_emulator --config-file /etc/nova/nova.conf \\
        --instances-db DB.json --log-file /var/log/nova/nova-compute.log [--now EPOCH]

``--now`` lets the lab replay a pass that happened in the past (log timestamps, ages,
the registry and the ``utime`` all use it).
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

LOGGER = "nova.virt.libvirt.imagecache"
REGISTRY = "compute_nodes"
REGISTRY_LOCK = "nova-storage-registry-lock"
TWENTY_FOUR_HOURS = 3600 * 24
DIGEST_SIZE = hashlib.sha1().digest_size * 2
RESIZE_STATES = {"resize_prep", "resize_migrating", "resize_migrated", "resize_finish"}

_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+)|\$)")


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class CacheConfig:
    host: str
    instances_path: str
    subdirectory_name: str
    remove_unused_base_images: bool
    manager_interval: int
    original_minimum_age: int
    resized_minimum_age: int

    @property
    def base_dir(self) -> str:
        return os.path.join(self.instances_path, self.subdirectory_name)


def _expand(value: str, defaults: dict[str, str], depth: int = 0) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(2)
        raw = defaults.get(name)
        return m.group(0) if raw is None or depth > 8 else _expand(raw, defaults, depth + 1)

    return _VAR.sub(sub, value)


_AGE = "remove_unused_%s_minimum_age_seconds"
# option -> (where it lives, newest first: [image_cache] since Ussuri, then [DEFAULT]), default
OPTIONS: dict[str, tuple[tuple[tuple[str, str], ...], str]] = {
    "subdirectory_name": ((("image_cache", "subdirectory_name"),
                           ("DEFAULT", "image_cache_subdirectory_name"),
                           ("DEFAULT", "base_dir_name")), "_base"),
    "remove_unused_base_images": ((("image_cache", "remove_unused_base_images"),
                                   ("DEFAULT", "remove_unused_base_images")), "True"),
    "manager_interval": ((("image_cache", "manager_interval"),
                          ("DEFAULT", "image_cache_manager_interval")), "2400"),
    "original": ((("image_cache", _AGE % "original"), ("DEFAULT", _AGE % "original")), "86400"),
    "resized": ((("image_cache", _AGE % "resized"), ("DEFAULT", _AGE % "resized")), "3600"),
}  # fmt: skip


def load_config(path: str) -> CacheConfig:
    """nova.conf's image cache options: [image_cache] first, then the old [DEFAULT] names."""
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    if not parser.read(path):
        raise SystemExit(f"{path}: cannot read nova.conf")
    defaults = {"state_path": "/var/lib/nova", "instances_path": "$state_path/instances"}
    defaults.update(parser.defaults())

    def opt(key: str) -> str:
        places, default = OPTIONS[key]
        for group, name in places:
            if group == "DEFAULT" and name in parser.defaults():
                return parser.defaults()[name]
            if group != "DEFAULT" and parser.has_option(group, name):
                return parser.get(group, name)
        return default

    return CacheConfig(
        host=defaults.get("host") or os.uname().nodename,
        instances_path=_expand(defaults["instances_path"], defaults),
        subdirectory_name=_expand(opt("subdirectory_name"), defaults),
        remove_unused_base_images=opt("remove_unused_base_images").strip().lower()
        in ("true", "yes", "on", "1"),
        manager_interval=int(opt("manager_interval")),
        original_minimum_age=int(opt("original")),
        resized_minimum_age=int(opt("resized")),
    )


@dataclass(frozen=True)
class DbInstance:
    """The columns of nova's ``instances`` table that the image cache manager reads."""

    uuid: str
    name: str
    host: str
    image_ref: str | None
    vm_state: str = "active"
    task_state: str | None = None


def load_instances(path: str) -> list[DbInstance]:
    rows: list[dict[str, Any]] = json.loads(Path(path).read_text())
    return [DbInstance(**row) for row in rows]


# ---------------------------------------------------------------- the log


class NovaLog:
    """Appends oslo.log-formatted lines (local time, as nova-compute writes them)."""

    def __init__(self, stream: TextIO, now: float) -> None:
        self.stream = stream
        self.now = now

    def _write(self, level: str, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.now))
        millis = int((self.now % 1) * 1000)
        self.stream.write(f"{stamp}.{millis:03d} {os.getpid()} {level} {LOGGER} [-] {message}\n")

    def info(self, message: str) -> None:
        self._write("INFO", message)

    def warning(self, message: str) -> None:
        self._write("WARNING", message)

    def error(self, message: str) -> None:
        self._write("ERROR", message)


# ---------------------------------------------------------------- storage registry


@contextlib.contextmanager
def _registry_lock(instances_path: str) -> Iterator[None]:
    """lockutils' external lock ``storage-registry-lock`` in the storage path."""
    with open(os.path.join(instances_path, REGISTRY_LOCK), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_registry(instances_path: str) -> dict[str, float]:
    try:
        data = json.loads(Path(instances_path, REGISTRY).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}


def register_storage_use(instances_path: str, host: str, now: float) -> None:
    with _registry_lock(instances_path):
        users = _read_registry(instances_path)
        users[host] = now
        Path(instances_path, REGISTRY).write_text(json.dumps(users))


def get_storage_users(instances_path: str, now: float) -> list[str]:
    with _registry_lock(instances_path):
        users = _read_registry(instances_path)
    return [h for h, seen in users.items() if now - seen < TWENTY_FOUR_HOURS]


# ---------------------------------------------------------------- the manager


def backing_file_name(disk_path: str) -> str | None:
    """libvirt_utils.get_disk_backing_file(path, basename=True), via real qemu-img."""
    out = subprocess.run(
        ["qemu-img", "info", "--output=json", "-U", disk_path],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    backing = json.loads(out.stdout).get("backing-filename")
    return os.path.basename(backing) if backing else None


@dataclass
class PassResult:
    active: list[str] = field(default_factory=list)
    removable: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    too_young: list[str] = field(default_factory=list)


class ImageCacheManager:
    def __init__(self, conf: CacheConfig, log: NovaLog, now: float) -> None:
        self.conf = conf
        self.log = log
        self.now = now
        self.unexplained_images: list[str] = []
        self.originals: list[str] = []
        self.active_base_files: list[str] = []
        self.removable_base_files: list[str] = []
        self.used_images: dict[str, tuple[int, int, list[str]]] = {}
        self.instance_names: set[str] = set()
        self.result = PassResult()

    def _list_base_images(self, base_dir: str) -> None:
        for ent in sorted(os.listdir(base_dir)):
            path = os.path.join(base_dir, ent)
            resized = len(ent) > DIGEST_SIZE + 2 and ent[DIGEST_SIZE] == "_"
            if (len(ent) == DIGEST_SIZE or resized) and os.path.isfile(path):
                self.unexplained_images.append(path)
                if not resized:
                    self.originals.append(path)

    def _list_running_instances(self, instances: Sequence[DbInstance]) -> None:
        for inst in instances:
            self.instance_names.update((inst.name, inst.uuid))
            if inst.task_state in RESIZE_STATES or inst.vm_state == "resized":
                self.instance_names.update((inst.name + "_resize", inst.uuid + "_resize"))
            if inst.image_ref is None:
                continue
            local, remote, insts = self.used_images.get(inst.image_ref, (0, 0, []))
            if inst.host == self.conf.host:
                local += 1
            else:
                remote += 1
            self.used_images[inst.image_ref] = (local, remote, [*insts, inst.name])

    def _find_base_file(self, base_dir: str, fingerprint: str) -> Iterator[tuple[str, bool]]:
        """(path, is_original) of every cached copy of one image."""
        original = os.path.join(base_dir, fingerprint)
        if os.path.exists(original):
            yield original, True
        resize_re = re.compile(rf".*/{fingerprint}_[0-9]+$")
        yield from ((img, False) for img in self.unexplained_images if resize_re.match(img))

    def _handle_base_image(self, img_id: str, base_file: str) -> None:
        self.log.info(f"image {img_id} at ({base_file}): checking")
        if base_file in self.unexplained_images:
            self.unexplained_images.remove(base_file)
        local, remote, _ = self.used_images.get(img_id, (0, 0, []))
        if local > 0 or remote > 0:
            self.log.info(
                f"image {img_id} at ({base_file}): in use: on this node {local} local, "
                f"{remote} on other nodes sharing this instance storage"
            )
            self.active_base_files.append(base_file)
            if os.path.exists(base_file):
                os.utime(base_file, (self.now, self.now))
        else:
            self.removable_base_files.append(base_file)

    def _list_backing_images(self) -> list[str]:
        inuse: list[str] = []
        for ent in sorted(os.listdir(self.conf.instances_path)):
            if ent not in self.instance_names:
                continue
            disk = os.path.join(self.conf.instances_path, ent, "disk")
            if not os.path.exists(disk):
                continue
            backing = backing_file_name(disk)
            if not backing:
                continue
            path = os.path.join(self.conf.base_dir, backing)
            if path not in inuse:
                inuse.append(path)
            if path in self.unexplained_images:
                self.log.warning(
                    f"Instance {ent} is using a backing file {path} which does not appear "
                    "in the image service"
                )
                self.unexplained_images.remove(path)
        return inuse

    def _remove_base_file(self, base_file: str) -> None:
        if not os.path.exists(base_file):
            return
        age = self.now - os.path.getmtime(base_file)
        maxage = self.conf.resized_minimum_age
        if base_file in self.originals:
            maxage = self.conf.original_minimum_age
        if age < maxage:
            self.log.info(f"Base file too young to remove: {base_file}")
            self.result.too_young.append(base_file)
            return
        self.log.info(f"Removing base file: {base_file}")
        try:
            os.remove(base_file)
        except OSError as exc:
            self.log.error(f"Failed to remove {base_file}, error was {exc}")
            return
        self.result.removed.append(base_file)

    def update(self, instances: Sequence[DbInstance]) -> PassResult:
        base_dir = self.conf.base_dir
        if not os.path.exists(base_dir):
            return self.result  # "Skipping verification, no base directory" (DEBUG)
        self._list_base_images(base_dir)
        self._list_running_instances(instances)
        for img in self.used_images:
            fingerprint = hashlib.sha1(img.encode("utf-8")).hexdigest()
            for base_file, _original in self._find_base_file(base_dir, fingerprint):
                self._handle_base_image(img, base_file)
        for path in self._list_backing_images():
            if path not in self.active_base_files:
                self.active_base_files.append(path)
        for img in self.unexplained_images:
            self.log.warning(f"Unknown base file: {img}")
            self.removable_base_files.append(img)
        if self.active_base_files:
            self.log.info("Active base files: " + " ".join(self.active_base_files))
        if self.removable_base_files:
            self.log.info("Removable base files: " + " ".join(self.removable_base_files))
            if self.conf.remove_unused_base_images:
                for base_file in self.removable_base_files:
                    self._remove_base_file(base_file)
        self.result.active = list(self.active_base_files)
        self.result.removable = list(self.removable_base_files)
        return self.result


def run_pass(conf: CacheConfig, instances: Sequence[DbInstance], log: NovaLog) -> PassResult:
    """ComputeManager._run_image_cache_manager_pass, then the libvirt driver's update()."""
    if conf.manager_interval < 0:
        return PassResult()  # the periodic task is disabled
    register_storage_use(conf.instances_path, conf.host, log.now)
    nodes = get_storage_users(conf.instances_path, log.now)
    counted = [i for i in instances if i.host in nodes]
    return ImageCacheManager(conf, log, log.now).update(counted)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--config-file", default="/etc/nova/nova.conf")
    ap.add_argument("--instances-db", required=True, help="JSON list of instances (the DB)")
    ap.add_argument("--log-file", default="/var/log/nova/nova-compute.log")
    ap.add_argument("--now", type=float, default=None, help="pretend the pass runs at EPOCH")
    args = ap.parse_args(argv)
    conf = load_config(args.config_file)
    now = time.time() if args.now is None else args.now
    with open(args.log_file, "a") as stream:
        result = run_pass(conf, load_instances(args.instances_db), NovaLog(stream, now))
    json.dump(
        {
            "host": conf.host,
            "removed": result.removed,
            "active": result.active,
            "removable": result.removable,
            "too_young": result.too_young,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
