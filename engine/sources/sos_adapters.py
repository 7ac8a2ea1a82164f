"""How each named source is read from a sosreport, so that its live parser reads it as is.

Most sources are one file: the first of the source's candidates that exists (a path
parameter mapped into the report first, since sos copies a file to its own path, then
the catalogue's ``sos`` globs). A few take parameters that select or filter, and their
reader does what the live command does, over the file, bounded:

- ``nova_log_grep``: ``grep -F -m N`` (streamed; exit 1 when nothing matched);
- ``nova_compute_log_tail`` / ``nova_api_access_lines``: the last bytes (and the size);
- ``proc_net_bonding``, ``ethtool_features``, ``dnsmasq_config``: the file for that bond,
  interface or name;
- ``qemu_img_info``: the disk's own section of ``cloudtales-disk-info``; a whole chain
  only when every layer's header is in the report;
- ``file_stats``: derived from the instances listing (``ls -lR``), for paths under it.

A reader raises ``Absent`` (what it looked for) when the report does not hold the data.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from engine.sources.sos_tree import SosReport
from engine.sources.spec import Source, SourceParams

MAX_READ = 4 << 20  # no single answer bigger than this


@dataclass(frozen=True)
class Answer:
    stdout: str
    files: tuple[str, ...]  # the report files read
    exit_status: int = 0
    stderr: str = ""


class Absent(Exception):  # noqa: N818 (a finding, not a failure of the code)
    def __init__(self, looked_for: list[str]) -> None:
        super().__init__(", ".join(looked_for))
        self.looked_for = looked_for


Reader = Callable[[SosReport, Source, dict[str, Any]], Answer]


def candidates(report: SosReport, src: Source, data: dict[str, Any], name: str = "") -> list[Path]:
    """The files that may hold ``src``: the path parameter inside the report, then its
    globs (restricted to files called ``name`` when given)."""
    found: list[Path] = []
    path = data.get("path")
    if isinstance(path, str):
        hit = report.path(path)
        if hit is not None:
            found.append(hit)
    for pattern in src.sos:
        for p in report.glob(pattern):
            if (not name or fnmatch.fnmatch(p.name, name)) and p not in found:
                found.append(p)
    return found


def looked_for(src: Source, data: dict[str, Any]) -> list[str]:
    path = data.get("path")
    return ([path.lstrip("/")] if isinstance(path, str) else []) + list(src.sos)


def first(report: SosReport, src: Source, data: dict[str, Any], name: str = "") -> Path:
    found = candidates(report, src, data, name)
    if not found:
        raise Absent(looked_for(src, data))
    return found[0]


def whole(report: SosReport, src: Source, data: dict[str, Any]) -> Answer:
    """The default: the first candidate's head (as ``head -c`` / ``cat`` would print); for
    a path parameter, only a file of that name (never another file in its place)."""
    f = first(report, src, data, _basename(data))
    return Answer(report.head(f, MAX_READ), (report.shown(f),))


def _basename(data: dict[str, Any], default: str = "") -> str:
    path = data.get("path")
    return PurePosixPath(path).name if isinstance(path, str) else default


def log_grep(report: SosReport, src: Source, data: dict[str, Any]) -> Answer:
    f = first(report, src, data, _basename(data))
    patterns = [str(p) for p in data.get("patterns", ())]
    limit = int(data.get("max_matches", 1000))
    hits: list[str] = []
    for line in report.lines(f):
        if any(p in line for p in patterns):
            hits.append(line)
            if len(hits) >= limit:
                break
    return Answer("".join(f"{h}\n" for h in hits), (report.shown(f),), 0 if hits else 1)


def log_tail(report: SosReport, src: Source, data: dict[str, Any]) -> Answer:
    f = first(report, src, data, _basename(data))
    return Answer(report.tail(f, int(data.get("max_bytes", 1 << 20))), (report.shown(f),))


ACCESS = re.compile(r" status: [0-9]{3} len: [0-9]+ time: [0-9.]+")


def access_lines(report: SosReport, src: Source, data: dict[str, Any]) -> Answer:
    """The file's size, then its access lines within ``max_bytes`` of its end."""
    f = first(report, src, data, _basename(data))
    text = report.tail(f, int(data.get("max_bytes", 1 << 20)))
    kept = [line for line in text.splitlines() if ACCESS.search(line)]
    out = f"{f.stat().st_size}\n" + "".join(f"{line}\n" for line in kept)
    return Answer(out, (report.shown(f),))


def named(attr: str, fmt: str = "{}") -> Reader:
    """A source kept one file per bond or interface: the one called after the parameter."""

    def read(report: SosReport, src: Source, data: dict[str, Any]) -> Answer:
        value = data.get(attr)
        want = fmt.format(PurePosixPath(str(value)).name) if value else ""
        f = first(report, src, data, want)
        return Answer(report.head(f, MAX_READ), (report.shown(f),))

    return read


DISK_HEADER = re.compile(r"^== (/\S.*)$", re.M)


def disk_sections(text: str) -> dict[str, str]:
    """``cloudtales-disk-info``: ``== PATH`` then that disk's ``qemu-img info`` JSON."""
    marks = list(DISK_HEADER.finditer(text))
    out: dict[str, str] = {}
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        out[m.group(1).strip()] = text[m.end() : end].strip()
    return out


def image_info(report: SosReport, src: Source, data: dict[str, Any]) -> Answer:
    f = first(report, src, {})
    sections = disk_sections(report.head(f, MAX_READ))
    shown = (report.shown(f),)
    path = str(data["path"])
    if path not in sections:  # a layer sos_extras did not read (a _base file): failed read
        why = f"not in this sosreport: {report.shown(f)} holds no header of {path}"
        return Answer("", shown, 1, why)
    if not data.get("chain"):
        return Answer(sections[path], shown)
    chain: list[Any] = []
    current: str | None = path
    while current is not None and len(chain) < 16:
        if current not in sections:
            why = f"the report holds no header of {current}: the chain is incomplete here"
            return Answer("", shown, 1, why)
        obj = json.loads(sections[current])
        chain.append(obj)
        current = obj.get("full-backing-filename") or obj.get("backing-filename")
    return Answer(json.dumps(chain, indent=4), shown)


LS_LINE = re.compile(
    r"^[-dlcbps][-rwxsStT.+]{9}\S*\s+\d+\s+\S+\s+\S+\s+(\d+)\s+"
    r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.\d+)? ([-+]\d{4}) (.+)$"
)


def listing_files(text: str) -> tuple[str, dict[str, tuple[int, int]]]:
    """``ls -lR --time-style=full-iso ROOT``: ROOT and each path -> (size, mtime)."""
    root, current = "", ""
    files: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        if line.endswith(":") and line.startswith("/"):
            current = line[:-1].rstrip("/")
            root = root or current
            continue
        m = LS_LINE.match(line)
        if m and current:
            when = dt.datetime.strptime(f"{m[2]} {m[3]} {m[4]}", "%Y-%m-%d %H:%M:%S %z")
            name = m[5].split(" -> ")[0]
            files[f"{current}/{name}"] = (int(m[1]), int(when.timestamp()))
    return root, files


def file_stats(report: SosReport, src: Source, data: dict[str, Any]) -> Answer:
    """``stat -L -c '%s %Y %i %n'`` answered from the listing (inode unknown: 0)."""
    f = first(report, src, {})
    root, files = listing_files(report.head(f, MAX_READ))
    paths = [str(p) for p in data.get("paths", ())]
    outside = [p for p in paths if not root or not p.startswith(root + "/")]
    if outside:
        raise Absent([f"{report.shown(f)} (lists {root or 'nothing'}, not {outside[0]})"])
    out, err = [], []
    for p in paths:
        if p in files:
            size, mtime = files[p]
            out.append(f"{size} {mtime} 0 {p}\n")
        else:
            err.append(f"stat: cannot statx '{p}': No such file or directory\n")
    return Answer("".join(out), (report.shown(f),), 1 if err else 0, "".join(err))


def console_peek(report: SosReport, src: Source, data: dict[str, Any]) -> Answer:
    """The domain ids from the instance's libvirt.xml, then the console.log's tail."""
    from engine.sources.nova import DOMAIN_MARK, TAIL_MARK

    log = report.path(str(data["path"]))
    if log is None:
        raise Absent([str(data["path"]).lstrip("/")])
    xml = log.parent / "libvirt.xml"
    ids = (
        re.findall(r"<(?:name|uuid)>[^<]*</(?:name|uuid)>", report.head(xml, 65536))
        if (report.inside(xml) and xml.is_file())
        else []
    )
    tail = report.tail(log, int(data.get("tail_bytes", 65536)))
    out = "\n".join([DOMAIN_MARK, *ids[:2], TAIL_MARK, tail])
    return Answer(out, (report.shown(log),))


READERS: dict[str, Reader] = {
    "nova_log_grep": log_grep,
    "nova_compute_log_tail": log_tail,
    "nova_api_access_lines": access_lines,
    "proc_net_bonding": named("path"),
    "console_log_peek": console_peek,
    "ethtool_features": named("iface", "ethtool_-k_{}"),
    "dnsmasq_config": named("path"),
    "qemu_img_info": image_info,
    "file_stats": file_stats,
}


def read(report: SosReport, src: Source, params: SourceParams) -> Answer:
    """``src`` from ``report`` (``Absent`` when it does not hold it)."""
    data = params.model_dump()
    return READERS.get(src.name, whole)(report, src, data)
