"""Parse ``/proc/self/mountinfo`` and the ``stat`` lines the disk checks ask for.

mountinfo (proc(5))::

    36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    id parent dev root mount-point options [optional fields...] - fstype source super-options

>>> m = parse_mountinfo("58 54 0:40 / /var/lib/nova/instances rw,relatime shared:5 - "
...     "nfs4 nfs01:/export/instances rw,vers=4.2\\n", "c1:/proc/self/mountinfo")[0]
>>> m.mount_point, m.fstype, m.source, m.propagation
('/var/lib/nova/instances', 'nfs4', 'nfs01:/export/instances', ('shared:5',))
>>> parse_path_identity("64768 131074 /var/lib/nova/instances", "c1")
PathIdentity(device=64768, inode=131074, mount_point='/var/lib/nova/instances')
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from engine.errors import CloudtalesError

_OCTAL = re.compile(r"\\([0-7]{3})")

# `stat -L -c` formats the checks use; the parsers below read exactly these
PATH_IDENTITY_FORMAT = "%d %i %m"
FILE_STAT_FORMAT = "%s %Y %i %n"


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


@dataclass(frozen=True)
class MountEntry:
    mount_id: int
    parent_id: int
    device: str  # major:minor
    root: str  # the directory of the filesystem mounted here (a bind mount's subtree)
    mount_point: str
    options: str
    propagation: tuple[str, ...]  # optional fields: shared:N, master:N, unbindable...
    fstype: str
    source: str
    super_options: str

    @property
    def line(self) -> str:
        tags = " ".join(self.propagation) or "private"
        return (
            f"{self.mount_point}: {self.fstype} from {self.source} "
            f"(root {self.root}, {self.options}, {tags})"
        )


def parse_mountinfo(text: str, source: str) -> list[MountEntry]:
    entries: list[MountEntry] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        fields = raw.split(" ")
        try:
            sep = fields.index("-", 6)
            mount_id, parent_id = int(fields[0]), int(fields[1])
            fstype, src = fields[sep + 1], fields[sep + 2]
        except (ValueError, IndexError):
            raise CloudtalesError(f"{source}:{lineno}: not a mountinfo line") from None
        entries.append(
            MountEntry(
                mount_id=mount_id,
                parent_id=parent_id,
                device=fields[2],
                root=_unescape(fields[3]),
                mount_point=_unescape(fields[4]),
                options=fields[5],
                propagation=tuple(fields[6:sep]),
                fstype=fstype,
                source=_unescape(src),
                super_options=" ".join(fields[sep + 3 :]),
            )
        )
    return entries


def mount_at(entries: Sequence[MountEntry], mount_point: str) -> MountEntry | None:
    """The mount visible at ``mount_point`` (a later mount hides an earlier one)."""
    found = [e for e in entries if e.mount_point == mount_point]
    return found[-1] if found else None


def containing_mount(entries: Sequence[MountEntry], path: str) -> MountEntry | None:
    """The mount whose mount point is the longest prefix of ``path``."""
    best: MountEntry | None = None
    for e in entries:
        mp = e.mount_point.rstrip("/") or "/"
        inside = path == mp or path.startswith(mp + "/") or mp == "/"
        if inside and (best is None or len(mp) >= len(best.mount_point.rstrip("/") or "/")):
            best = e
    return best


@dataclass(frozen=True)
class PathIdentity:
    """``stat -L -c '%d %i %m'``: device number, inode and the mount point holding it."""

    device: int
    inode: int
    mount_point: str


def parse_path_identity(text: str, source: str) -> PathIdentity:
    parts = text.strip().split(" ", 2)
    try:
        return PathIdentity(int(parts[0]), int(parts[1]), parts[2])
    except (ValueError, IndexError):
        raise CloudtalesError(
            f"{source}: expected 'DEVICE INODE MOUNTPOINT' from stat, got {text.strip()[:80]!r}"
        ) from None


@dataclass(frozen=True)
class FileStat:
    path: str
    size: int
    mtime: int
    inode: int


def parse_file_stats(text: str, source: str) -> dict[str, FileStat]:
    """``stat -L -c '%s %Y %i %n' FILE...``: one line per file that exists."""
    stats: dict[str, FileStat] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(" ", 3)
        try:
            st = FileStat(
                path=parts[3], size=int(parts[0]), mtime=int(parts[1]), inode=int(parts[2])
            )
        except (ValueError, IndexError):
            raise CloudtalesError(
                f"{source}:{lineno}: not a 'SIZE MTIME INODE PATH' line"
            ) from None
        stats[st.path] = st
    return stats


def parse_storage_users(text: str, source: str) -> dict[str, float]:
    """nova's storage registry, ``INSTANCES_PATH/compute_nodes``: ``{"host": last_seen}``.

    Every compute that runs the image cache manager writes its name and the time of its
    pass there (nova/virt/storage_users.py), so on a shared path it names every user.
    An empty text (no registry) is an empty mapping.
    """
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        raise CloudtalesError(f"{source}: not JSON (nova's compute_nodes registry)") from None
    if not isinstance(data, dict):
        raise CloudtalesError(f"{source}: expected a JSON object of host -> time")
    return {
        str(k): float(v)
        for k, v in data.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
