"""Disappearing Images detectors: nova's image cache manager removing base files,
its options, and whether the instances path is shared between computes.

Pure functions over parsed data; each returns an ``CheckResult`` with its evidence.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from engine.errors import CloudtalesError
from engine.parsers.mounts import MountEntry, PathIdentity
from engine.parsers.nova_conf import NovaConf
from engine.results import CheckResult, Evidence, FactValue

REMOVAL_OUTCOMES = ("removed_by_imagecache", "no_removal_logged")
SHARED_OUTCOMES = ("shared", "not_shared")

# ------------------------------------------------------------------ removal in the logs

REMOVAL_MESSAGES = ("Removing base file: ", "Removing base or swap file: ")  # old, newer nova
_REMOVAL = re.compile(r"Removing base (?:or swap )?file: (?P<file>\S+)")
_ISO_TS = re.compile(r"(?P<ts>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?)")
_SYSLOG = re.compile(r"^(?:\S+:)?(?P<ts>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (?P<host>\S+) ")


@dataclass(frozen=True)
class Removal:
    host: str  # the compute whose log holds the line
    file: str
    when: str | None  # the timestamp as logged
    line: str
    syslog_host: str | None = None  # the sender, for a central rsyslog file

    @property
    def remover(self) -> str:
        return self.syslog_host or self.host


def removal_patterns(files: Sequence[str]) -> list[str]:
    """The fixed strings to grep for: nova's removal message for each file (or any file)."""
    return [m + f for f in files for m in REMOVAL_MESSAGES] if files else list(REMOVAL_MESSAGES)


def parse_removal_line(host: str, line: str) -> Removal | None:
    m = _REMOVAL.search(line)
    if not m:
        return None
    head = line[: m.start()]
    ts = _ISO_TS.search(head)
    syslog = _SYSLOG.match(head)
    when = ts.group("ts") if ts else (syslog.group("ts") if syslog else None)
    return Removal(
        host, m.group("file"), when, line.strip(), syslog.group("host") if syslog else None
    )


def classify_removals(
    removals: Sequence[Removal], files: Sequence[str], searched: Sequence[str]
) -> CheckResult:
    wanted = [r for r in removals if not files or r.file in files]
    facts: dict[str, FactValue] = {
        "removals": [f"{r.host}: {r.line}" for r in wanted],
        "searched": list(searched),
    }
    if not wanted:
        what = ", ".join(files) if files else "any base file"
        return CheckResult(
            "no_removal_logged",
            f"no log line removes {what} (searched {', '.join(searched) or 'nothing'})",
            facts,
        )
    last = wanted[-1]
    facts.update(removed_file=last.file, removed_by=last.remover, removed_at=last.when)
    by_host: dict[str, list[str]] = defaultdict(list)
    for r in wanted:
        by_host[r.host].append(r.line)
    evidence = tuple(
        Evidence("nova-compute log: Removing base file", "\n".join(lines), host)
        for host, lines in by_host.items()
    )
    return CheckResult(
        "removed_by_imagecache",
        f"{last.remover}'s image cache manager removed {last.file} at {last.when or '?'}",
        facts,
        evidence,
    )


# ------------------------------------------------------------------ shared instances path

NETWORK_FSTYPES = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ceph",
        "glusterfs",
        "fuse.glusterfs",
        "fuse.cephfs",
        "fuse.ceph-fuse",
        "lustre",
        "gpfs",
        "ocfs2",
        "gfs2",
        "beegfs",
        "fuse.sshfs",
        "9p",
        "virtiofs",
        "afs",
        "fuse.s3fs",
        "fuse.juicefs",
        "fuse.mfs",
        "moosefs",
    }
)
_REMOTE_SOURCE = re.compile(r"^(//[^/]+/|[^/\s:]+:/)")


def remote_source(source: str) -> bool:
    """``server:/export`` (NFS, GlusterFS) or ``//server/share`` (CIFS)."""
    return bool(_REMOTE_SOURCE.match(source))


@dataclass(frozen=True)
class PathView:
    """The instances path as one compute sees it."""

    host: str
    path: str
    identity: PathIdentity
    mount: MountEntry | None
    storage_users: dict[str, float]  # nova's compute_nodes registry: host -> last pass
    clock: float  # the compute's clock, to age the registry


def classify_instances_path(views: Sequence[PathView]) -> CheckResult:
    reasons: list[str] = []
    sharing: set[str] = set()
    for v in views:
        if v.mount is not None and v.mount.fstype in NETWORK_FSTYPES:
            reasons.append(f"{v.host}: {v.path} is on {v.mount.fstype} from {v.mount.source}")
            sharing.add(v.host)
    groups: dict[tuple[str, str, int], list[str]] = defaultdict(list)
    for v in views:
        if v.mount is not None and remote_source(v.mount.source):
            groups[(v.mount.source, v.mount.root, v.identity.inode)].append(v.host)
    for (source, _, inode), hosts in groups.items():
        if len(hosts) > 1:
            reasons.append(f"{', '.join(hosts)} mount the same {source} (inode {inode} on each)")
            sharing.update(hosts)
    users_lines = []
    for v in views:
        if len(v.storage_users) > 1:
            ages = ", ".join(
                f"{h} {max(0.0, v.clock - t) / 3600:.1f} h ago"
                for h, t in sorted(v.storage_users.items())
            )
            users_lines.append(f"{v.host}: {v.path}/compute_nodes: {ages}")
    if users_lines:
        reasons.append("nova's storage registry lists several computes: " + users_lines[0])
        sharing.update(h for v in views for h in v.storage_users if h in {x.host for x in views})
    mounts = [
        f"{v.host}: {v.mount.line}" if v.mount else f"{v.host}: {v.path}: no mount found"
        for v in views
    ]
    first = next((v.mount for v in views if v.mount is not None), None)
    facts = {
        "fstype": first.fstype if first else None,
        "source": first.source if first else None,
        "shared_by": sorted(sharing),
        "mounts": mounts,
        "storage_users": users_lines,
    }
    evidence = [Evidence("mountinfo", "\n".join(mounts))]
    if users_lines:
        evidence.append(Evidence("nova storage registry (compute_nodes)", "\n".join(users_lines)))
    if reasons:
        return CheckResult(
            "shared", "instances path shared: " + "; ".join(reasons), facts, tuple(evidence)
        )
    return CheckResult(
        "not_shared",
        "each compute has its own instances path: " + "; ".join(mounts),
        facts,
        tuple(evidence),
    )


# ------------------------------------------------------------------ image cache options

CACHE_OPTION_OUTCOMES = ("removes_from_shared_cache", "per_host_cache", "removal_disabled")

# where each option lives, newest first: the [image_cache] group (Ussuri and later),
# then the [DEFAULT] names of earlier releases (base_dir_name: Folsom and Grizzly)
_OPTION_PLACES: dict[str, tuple[tuple[str, str], ...]] = {
    "remove_unused_base_images": (
        ("image_cache", "remove_unused_base_images"),
        ("DEFAULT", "remove_unused_base_images"),
    ),
    "manager_interval": (
        ("image_cache", "manager_interval"),
        ("DEFAULT", "image_cache_manager_interval"),
    ),
    "subdirectory_name": (
        ("image_cache", "subdirectory_name"),
        ("DEFAULT", "image_cache_subdirectory_name"),
        ("DEFAULT", "base_dir_name"),
    ),
    "original_minimum_age": (
        ("image_cache", "remove_unused_original_minimum_age_seconds"),
        ("DEFAULT", "remove_unused_original_minimum_age_seconds"),
    ),
}
_OPTION_DEFAULTS = {
    "remove_unused_base_images": "True",
    "manager_interval": "2400",
    "subdirectory_name": "_base",
    "original_minimum_age": "86400",
}
_NOVA_DEFAULTS = {"state_path": "/var/lib/nova", "instances_path": "$state_path/instances"}
_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+)|\$)")
_PER_HOST_VARS = ("my_ip", "host")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def expand_option(value: str, conf: NovaConf, depth: int = 0) -> str:
    """oslo.config's ``$name`` / ``${name}`` substitution from [DEFAULT] (``$$`` is a $)."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(2)
        raw = conf.get("DEFAULT", name) or _NOVA_DEFAULTS.get(name)
        if raw is None or depth > 8:
            return m.group(0)
        return expand_option(raw, conf, depth + 1)

    return _VAR.sub(sub, value)


@dataclass(frozen=True)
class ImageCacheSettings:
    host: str
    source: str
    instances_path: str
    subdirectory_raw: str  # as written, e.g. _base_$my_ip
    subdirectory_name: str  # expanded
    remove_unused_base_images: bool
    manager_interval: int  # seconds; negative: the pass never runs
    original_minimum_age: int

    @property
    def cache_dir(self) -> str:
        return self.instances_path.rstrip("/") + "/" + self.subdirectory_name

    @property
    def per_host(self) -> bool:
        """The cache directory name carries the host's identity ($my_ip, $host)."""
        names = {m.group(1) or m.group(2) for m in _VAR.finditer(self.subdirectory_raw)}
        return bool(names & set(_PER_HOST_VARS))

    @property
    def removes(self) -> bool:
        return self.remove_unused_base_images and self.manager_interval >= 0

    def describe(self) -> str:
        return (
            f"{self.host}: remove_unused_base_images={self.remove_unused_base_images}, "
            f"subdirectory {self.subdirectory_raw} -> {self.cache_dir}, "
            f"manager_interval={self.manager_interval} s, "
            f"original minimum age {self.original_minimum_age} s"
        )


def _option(conf: NovaConf, key: str) -> tuple[str, str]:
    for group, name in _OPTION_PLACES[key]:
        value = conf.get(group, name)
        if value is not None and value != "":
            return value, f"[{group}] {name}"
    return _OPTION_DEFAULTS[key], f"{key} (default)"


def _as_bool(conf: NovaConf, key: str) -> bool:
    value, where = _option(conf, key)
    low = value.strip().lower()
    if low in _TRUE | _FALSE:
        return low in _TRUE
    raise CloudtalesError(f"{conf.source}: {where} = {value!r} is not a boolean")


def _as_int(conf: NovaConf, key: str) -> int:
    value, where = _option(conf, key)
    try:
        return int(value.strip())
    except ValueError:
        raise CloudtalesError(f"{conf.source}: {where} = {value!r} is not an integer") from None


def image_cache_settings(host: str, conf: NovaConf) -> ImageCacheSettings:
    raw_path = conf.get("DEFAULT", "instances_path") or _NOVA_DEFAULTS["instances_path"]
    raw_sub, _ = _option(conf, "subdirectory_name")
    return ImageCacheSettings(
        host=host,
        source=conf.source,
        instances_path=expand_option(raw_path, conf),
        subdirectory_raw=raw_sub,
        subdirectory_name=expand_option(raw_sub, conf),
        remove_unused_base_images=_as_bool(conf, "remove_unused_base_images"),
        manager_interval=_as_int(conf, "manager_interval"),
        original_minimum_age=_as_int(conf, "original_minimum_age"),
    )


def _cache_key(s: ImageCacheSettings) -> str:
    # an unexpanded per-host name ($my_ip not set in nova.conf) still differs per host
    return f"{s.cache_dir}@{s.host}" if s.per_host and "$" in s.subdirectory_name else s.cache_dir


def classify_cache_options(settings: Sequence[ImageCacheSettings]) -> CheckResult:
    facts = {
        "settings": [s.describe() for s in settings],
        "cache_dirs": [f"{s.host}: {s.cache_dir}" for s in settings],
        "instances_path": settings[0].instances_path if settings else None,
        "removing_hosts": [s.host for s in settings if s.removes],
    }
    evidence = tuple(Evidence(s.source, s.describe(), s.host) for s in settings)
    removers = [s for s in settings if s.removes]
    if not removers:
        return CheckResult(
            "removal_disabled",
            "no compute removes unused base files: " + "; ".join(s.describe() for s in settings),
            facts,
            evidence,
        )
    shared = [
        r
        for r in removers
        if (len(settings) == 1 and not r.per_host)
        or any(s is not r and _cache_key(s) == _cache_key(r) for s in settings)
    ]
    if shared:
        who = ", ".join(s.host for s in shared)
        return CheckResult(
            "removes_from_shared_cache",
            f"{who} remove unused base files from {shared[0].cache_dir}, "
            f"a cache directory name every compute uses",
            facts,
            evidence,
        )
    return CheckResult(
        "per_host_cache",
        "each compute removes only from its own cache directory: "
        + ", ".join(f"{s.host} {s.cache_dir}" for s in removers),
        facts,
        evidence,
    )
