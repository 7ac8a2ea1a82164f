"""Real sosreports of a running lab: Debian's ``sos report`` inside each host's namespaces.

Each lab host is its sshd's network, mount and UTS namespaces, so sos is started with
``nsenter`` into that sshd (it sees the host's links, ``/etc/nova``, logs and mounts, and
names the report after the host), then ``unshare -m`` for three mounts of its own that
never reach the host: an empty tmpfs on ``/run/netns`` (``ip netns`` would otherwise list
every lab namespace on the machine, and the networking plugin would collect them all),
the extras file on ``/etc/sos/extras.d`` and the ``cloudtales-*`` scripts on
``/usr/local/sbin`` (first on sos' PATH). Which plugins and extras: ``sosreport_plans.py``.

Each report is written unpacked (``--build``) to ``DIR/<lab>-<healthy|faulty>/<host>/``.

    python -m labs.sosreport LAB DIR          # one running lab (as `cloudtales lab sosreport`)
    python -m labs.sosreport --all DIR        # every lab, faulty then healthy: up, sos, down

Run either under ``flock /tmp/cloudtales-lab.lock`` (labs use fixed namespace names).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.errors import CloudtalesError
from labs.core import netns
from labs.core.base import Progress, health, quiet
from labs.core.registry import LABS, get_lab
from labs.sosreport.plans import HostSos, plan

TOOLS = {"sos": "sosreport", "nsenter": "util-linux", "unshare": "util-linux", "mount": "mount"}
SOS_TIMEOUT = 300.0

# sh -c SETUP SCRATCH CMD...: the private mounts, then exec sos
SETUP = (
    'set -e; s="$1"; shift; '
    '[ -d "$s/out" ] || { echo "scratch dir $s not in this mount namespace" >&2; exit 3; }; '
    "mount -t tmpfs -o size=1m,mode=0755 cloudtales-sos /run/netns; "
    'mount --bind "$s/bin" /usr/local/sbin; '
    'mount --bind "$s/extras.d" /etc/sos/extras.d; '
    'exec "$@"'
)


TRIMMED = (
    "sos_reports/sos.html",
    "sos_reports/sos.json",
    "sos_reports/sos.txt",
    "sos_logs/sos.log",
    "etc/iproute2",
    "etc/network",
)
"""What fixtures leave out: sos' own renderings of the manifest, its debug log, and the
machine's stock iproute2/ifupdown files (about 40% of the bytes, none read by a check)."""


def trim(tree: Path) -> None:
    for rel in TRIMMED:
        path = tree / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


@dataclass(frozen=True)
class SosResult:
    host: str
    path: Path
    seconds: float
    files: int
    size: int  # bytes of file content

    def line(self) -> str:
        return (
            f"{self.host}: {self.path} ({self.files} files, "
            f"{self.size / 1024:.0f} KiB, {self.seconds:.1f} s)"
        )


def sos_argv(spec: HostSos, scratch: Path) -> list[str]:
    argv = ["sos", "report", "--batch", "--quiet", "--build", "--tmp-dir", str(scratch / "out")]
    argv += ["-o", ",".join(spec.all_plugins)]
    for opt in spec.options:
        argv += ["-k", opt]
    return argv


def _prepare_scratch(spec: HostSos) -> Path:
    scratch = Path(tempfile.mkdtemp(prefix="cloudtales-sos-"))
    (scratch / "out").mkdir()
    bin_dir = scratch / "bin"
    bin_dir.mkdir(mode=0o755)
    for name, body in spec.scripts.items():
        script = bin_dir / f"cloudtales-{name}"
        script.write_text(f"#!/bin/sh\n# cloudtales: what the live check runs\n{body}\n")
        script.chmod(0o755)
    extras = scratch / "extras.d"
    extras.mkdir()
    extras.chmod(0o755)  # sos_extras skips a group- or world-writable dir
    lines = spec.extras_lines()
    (extras / "cloudtales").write_text("".join(f"{line}\n" for line in lines))
    bin_dir.chmod(0o755)
    return scratch


def report_one(
    lab: str, spec: HostSos, sshd_pid: int, dest: Path, trimmed: bool = False
) -> SosResult:
    """Run sos for one host inside its sshd's namespaces; the unpacked tree goes to ``dest``."""
    started = time.monotonic()
    scratch = _prepare_scratch(spec)
    try:
        enter = ["nsenter", "-t", str(sshd_pid), "-m", "-n", "-u", "--"]
        private = ["unshare", "-m", "--propagation", "private", "--", "sh", "-c", SETUP, "sh"]
        netns.run([*enter, *private, str(scratch), *sos_argv(spec, scratch)], timeout=SOS_TIMEOUT)
        trees = [p for p in (scratch / "out").iterdir() if p.is_dir()]
        if len(trees) != 1:
            raise CloudtalesError(f"{lab} {spec.host}: sos wrote {len(trees)} report trees")
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(trees[0]), dest)
        if trimmed:
            trim(dest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    files = [p for p in dest.rglob("*") if p.is_file() and not p.is_symlink()]
    return SosResult(
        spec.host,
        dest,
        time.monotonic() - started,
        len(files),
        sum(p.stat().st_size for p in files),
    )


def lab_sosreport(
    name: str, out_dir: Path, progress: Progress = quiet, trimmed: bool = False
) -> list[SosResult]:
    """One sosreport per host of the running lab ``name`` under ``out_dir/<name>-<health>/``."""
    netns.require_root("sos report in a lab host")
    netns.require_tools(TOOLS)
    lab = get_lab(name)
    st = lab.status()
    if not st.running or st.healthy is None:
        raise CloudtalesError(f"lab {name} is not running: `cloudtales lab up {name}` first")
    run_dir = Path(getattr(lab, "run_dir", ""))
    hosts = [str(h) for h in getattr(lab, "host_names", ())]
    pids: dict[str, int] = {}
    for host in hosts:
        pid = netns.sshd_pid(run_dir, host)
        if pid is None:
            raise CloudtalesError(f"lab {name}: host {host} has no running sshd")
        pids[host] = pid
    todo = plan(name, run_dir, pids)
    for host, why in todo.skipped.items():
        progress(f"{host}: no sosreport ({why})")
    base = out_dir / f"{name}-{health(st.healthy)}"
    results = []
    for spec in todo.hosts:
        progress(f"{spec.host}: sos report -o {','.join(spec.all_plugins)}")
        results.append(report_one(name, spec, pids[spec.host], base / spec.host, trimmed))
    return results


def all_labs(out_dir: Path, names: Sequence[str], progress: Progress = quiet) -> list[SosResult]:
    """For each lab: up faulty, sos, up healthy, sos, down (trimmed, as fixtures)."""
    results: list[SosResult] = []
    for name in names:
        lab = get_lab(name)
        try:
            for healthy in (False, True):
                progress(f"lab {name} up ({health(healthy)})")
                lab.up(healthy=healthy)
                results += lab_sosreport(name, out_dir, progress, trimmed=True)
        finally:
            lab.down()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m labs.sosreport", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("lab", nargs="?", help="a running lab (omit with --all)")
    parser.add_argument("dir", help="where the <lab>-<health>/<host>/ trees go")
    parser.add_argument("--all", action="store_true", help="every lab, faulty and healthy")
    args = parser.parse_args(argv)
    if args.all == bool(args.lab):
        parser.error("give a LAB, or --all")

    def say(message: str) -> None:
        print(f"  {message}", file=sys.stderr)

    out = Path(args.dir)
    try:
        results = (
            all_labs(out, sorted(LABS), say) if args.all else lab_sosreport(args.lab, out, say)
        )
    except CloudtalesError as exc:
        print(f"cloudtales: {exc}", file=sys.stderr)
        return 1
    for result in results:
        print(result.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
