"""``cloudtales hosts`` on N hosts, cold, next to a bare asyncssh gather and Ansible.

Run on demand (never in CI), as root: ``.venv/bin/python bench/bench_hosts.py
[--hosts 50,1000] [--runs 3] [--json-out FILE]``.

One scratch sshd listens on ``0.0.0.0:PORT`` (default 2222) and so answers on every
``127.0.X.Y``: each address is a host, and one known_hosts line ``[127.0.*.*]:PORT KEY``
covers them all. Its config skips root's ``.bashrc`` (``SetEnv SHLVL=1``, see
LAB-NOTES "SSH fan-out") for every client alike. The bench writes its own cloudtales
inventory and Ansible INI for N hosts and stops its sshd at the end.

Every contender is a fresh process (cold: no daemon, no connection kept from an earlier
run; the bench waits for sshd's children of the previous run to exit) with
``RLIMIT_NOFILE`` set to 1024 (soft and hard), and runs the same remote command, the
hosts probe (``engine.hosts_probe.probe_script``), on every host:

  cloudtales   ``cloudtales hosts -i INV --json`` (its default concurrency; it sends the
               probe as ``exec sh -c PROBE``, ``SshRunner.run_short``);
  bare         asyncssh ``connect`` + ``run`` per host under ``asyncio.gather``, at most
               ``RLIMIT_NOFILE - 64`` at once (the same rule as ``cloudtales hosts``);
  ansible      ``ansible all -i INI -m raw -a PROBE -f 50``, Ansible's default ssh
               arguments (``-C``, ``ControlMaster=auto``, ``ControlPersist=60s``) with a
               new ControlPath dir per run, whose masters are stopped after the run.

Byte code is compiled first (``compileall`` over engine/ and tui/, and the baseline's):
an installed package has its ``.pyc`` files, and where ``PYTHONDONTWRITEBYTECODE`` is
set (as on the CI machine kind) a checkout would otherwise compile some 20 modules from
source on every run (about 70 ms), a cost the bare anchor never pays.

``--baseline DIR`` adds ``cloudtales hosts`` run from another checkout's sources (say
``git archive REV engine tui | tar -x -C DIR``) with this venv, for a before/after.

Figures are wall seconds for the whole process, median of ``--runs``; the ratio is
cloudtales over its anchor (below 1 is faster). A run that fails (exit status, or a
host missing from its output) is reported and makes the bench exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
SSHD = "/usr/sbin/sshd"
FD_LIMIT = 1024
ANSIBLE_FORKS = 50

BARE = r"""
import asyncio, resource, sys, asyncssh
key, known, port, command, *addresses = sys.argv[1:]
soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
async def one(address, gate):
    async with gate:
        async with asyncssh.connect(address, port=int(port), username="root",
                                    client_keys=[key], known_hosts=known, config=None) as c:
            return (await c.run(command)).stdout
async def main():
    gate = asyncio.Semaphore(max(1, soft - 64))
    outs = await asyncio.gather(*(one(a, gate) for a in addresses), return_exceptions=True)
    ok = sum(isinstance(o, str) and "uid=" in o for o in outs)
    print(f"{ok} of {len(outs)} answered")
    return 0 if ok == len(outs) else 1
sys.exit(asyncio.run(main()))
"""

SSHD_CONFIG = """\
Port {port}
ListenAddress 0.0.0.0
HostKey {dir}/host_ed25519
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
MaxStartups 4000:30:8000
MaxSessions 64
LogLevel ERROR
# skip root's ~/.bashrc (pyenv init) on every command, for every client alike
SetEnv SHLVL=1
"""


def addresses(n: int) -> list[str]:
    """127.0.0.1, ... 127.0.0.254, 127.0.1.1, ...: N loopback addresses."""
    return [f"127.0.{i // 254}.{i % 254 + 1}" for i in range(n)]


@dataclass
class Lab:
    dir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    def start(self) -> None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", self.port)) == 0:
                raise SystemExit(f"bench_hosts: port {self.port} is in use; pick one with --port")
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        for name in ("host_ed25519", "id_ed25519"):
            keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.dir / name)]
            subprocess.run(keygen, check=True)
        shutil.copy(self.dir / "id_ed25519.pub", self.dir / "authorized_keys")
        host_pub = (self.dir / "host_ed25519.pub").read_text().split()[:2]
        self.known_hosts.write_text(f"[127.0.*.*]:{self.port} {' '.join(host_pub)}\n")
        cfg = self.dir / "sshd_config"
        cfg.write_text(SSHD_CONFIG.format(port=self.port, dir=self.dir))
        subprocess.run([SSHD, "-t", "-f", str(cfg)], check=True)
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-f", str(cfg), "-E", str(self.dir / "sshd.log")],
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise SystemExit(f"bench_hosts: sshd did not listen on {self.port}; see {self.dir}")

    def children(self) -> list[int]:
        assert self.proc is not None
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def settle(self, limit: float = 60.0) -> None:
        """Wait until no connection of the previous run is left (cold start)."""
        deadline = time.monotonic() + limit
        while self.children() and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None:
            return
        for pid in self.children():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc = None


def write_inventories(lab: Lab, n: int) -> tuple[Path, Path]:
    import yaml

    hosts = {f"h{i:04d}": a for i, a in enumerate(addresses(n))}
    ssh = {"known_hosts": str(lab.known_hosts), "client_keys": [str(lab.key)], "username": "root"}
    inventory = {
        "name": f"bench-{n}",
        "ssh": ssh,
        "hosts": {name: {"address": a, "port": lab.port} for name, a in hosts.items()},
    }
    cloudtales = lab.dir / f"inventory-{n}.yaml"
    cloudtales.write_text(yaml.safe_dump(inventory, sort_keys=False))
    ansible = lab.dir / f"hosts-{n}.ini"
    lines = ["[bench]"] + [f"{name} ansible_host={a}" for name, a in hosts.items()]
    lines += [
        "[all:vars]",
        f"ansible_port={lab.port}",
        "ansible_user=root",
        f"ansible_ssh_private_key_file={lab.key}",
        f"ansible_ssh_common_args='-o UserKnownHostsFile={lab.known_hosts} "
        "-o StrictHostKeyChecking=yes'",
    ]
    ansible.write_text("\n".join(lines) + "\n")
    return cloudtales, ansible


def _limit_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


@dataclass
class Timed:
    seconds: float
    ok: bool
    note: str = ""


def timed(argv: Sequence[str], env: dict[str, str] | None = None) -> tuple[Timed, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        preexec_fn=_limit_fds,
        stdin=subprocess.DEVNULL,
        timeout=900,
    )
    seconds = time.perf_counter() - t0
    tail = (proc.stderr.strip().splitlines() or [""])[-1][:200]
    return Timed(seconds, proc.returncode == 0, f"rc {proc.returncode}: {tail}"), proc.stdout


def run_cloudtales(inventory: Path, n: int, source: Path | None = None) -> Timed:
    argv = [str(BIN / "cloudtales")]
    if source is not None:
        main = f"import sys; sys.path.insert(0, {str(source)!r}); from tui.cli import main; main()"
        argv = [str(BIN / "python"), "-c", main]
    t, out = timed([*argv, "hosts", "-i", str(inventory), "--json"])
    try:
        hosts = json.loads(out)["hosts"]
        up = sum(h["reachable"] and h["root_ok"] for h in hosts)
    except (ValueError, KeyError, TypeError):
        up = -1
    if up != n:
        t.ok, t.note = False, f"{up} of {n} hosts reachable as root; {t.note}"
    return t


def run_bare(lab: Lab, n: int, command: str) -> Timed:
    argv = [str(BIN / "python"), "-c", BARE, str(lab.key), str(lab.known_hosts)]
    t, out = timed([*argv, str(lab.port), command, *addresses(n)])
    if out.strip() != f"{n} of {n} answered":
        t.ok, t.note = False, f"{out.strip()}; {t.note}"
    return t


def run_ansible(lab: Lab, ini: Path, command: str, n: int) -> Timed:
    """Ansible's own ssh settings (ControlPersist included) with a fresh ControlPath dir.

    Cold: the dir is new for each run, and the connection masters Ansible leaves behind
    (ControlPersist=60s) are stopped after the run, outside the timing.
    """
    home = lab.dir / "ansible"
    control = Path(tempfile.mkdtemp(prefix="cp-", dir=lab.dir))
    env = {
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_CONFIG": str(home / "none.cfg"),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control),
    }
    argv = [str(BIN / "ansible"), "all", "-i", str(ini), "-m", "raw", "-a", command]
    try:
        t, out = timed([*argv, "-f", str(ANSIBLE_FORKS)], env)
    finally:
        masters = subprocess.run(["pgrep", "-f", str(control)], capture_output=True, text=True)
        for pid in masters.stdout.split():
            try:
                os.kill(int(pid), signal.SIGTERM)
            except ProcessLookupError:
                pass
    answered = out.count("| CHANGED | rc=0")
    if answered != n:
        t.ok, t.note = False, f"{answered} of {n} answered; {t.note}"
    return t


@dataclass
class Size:
    n: int
    runs: dict[str, list[Timed]] = field(default_factory=dict)

    def median(self, who: str) -> float | None:
        got = [t.seconds for t in self.runs.get(who, []) if t.ok]
        return statistics.median(got) if got else None

    def failures(self) -> list[str]:
        return [f"{self.n} hosts, {who}: {t.note}" for who, ts in self.runs.items()
                for t in ts if not t.ok]  # fmt: skip


def bench_size(
    lab: Lab, n: int, runs: int, with_ansible: bool, command: str, baseline: Path | None
) -> Size:
    inventory, ini = write_inventories(lab, n)
    size = Size(n)
    contenders: dict[str, Callable[[], Timed]] = {
        "bare": lambda: run_bare(lab, n, command),
        "cloudtales": lambda: run_cloudtales(inventory, n),
    }
    if baseline is not None:
        contenders["baseline"] = lambda: run_cloudtales(inventory, n, baseline)
    if with_ansible:
        contenders["ansible"] = lambda: run_ansible(lab, ini, command, n)
    for i in range(runs):
        for who, run in contenders.items():
            lab.settle()
            t = run()
            size.runs.setdefault(who, []).append(t)
            flag = "" if t.ok else f"  FAILED {t.note}"
            print(f"  {n:>5} hosts  run {i + 1}  {who:<10} {t.seconds:7.2f} s{flag}", flush=True)
    return size


def rows(sizes: Sequence[Size]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for s in sizes:
        mine = s.median("cloudtales")
        anchors = [("bare", "bare asyncssh gather"), ("ansible", "ansible raw -f 50")]
        anchors.append(("baseline", "cloudtales --baseline"))
        for who, label in anchors:
            if who not in s.runs:
                continue
            anchor = s.median(who)
            ratio = mine / anchor if mine is not None and anchor else None
            what = f"cloudtales hosts, {s.n} hosts cold"
            what += {"bare": "", "ansible": " (vs Ansible)", "baseline": " (vs before)"}[who]
            out.append({"what": what, "value": mine, "unit": "s", "anchor": label,
                        "anchor_value": anchor, "ratio": ratio})  # fmt: skip
    return out


def _fmt(x: object, spec: str) -> str:
    return "failed" if x is None else format(x, spec)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--hosts", default="50,1000", help="host counts, comma-separated")
    ap.add_argument("--runs", type=int, default=3, help="runs of each contender per size")
    ap.add_argument("--ansible-max", type=int, default=50, help="run Ansible up to this size")
    ap.add_argument("--port", type=int, default=2222)
    ap.add_argument("--json-out", metavar="FILE", help="write the rows as JSON")
    ap.add_argument("--baseline", metavar="DIR", type=Path, help="also run hosts from DIR")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_hosts: needs root (sshd, and the probe logs in as root)", file=sys.stderr)
        return 1
    sys.path.insert(0, str(ROOT))
    from engine.hosts_probe import probe_script

    command = probe_script()
    for tree in [ROOT / "engine", ROOT / "tui", *([args.baseline] if args.baseline else [])]:
        subprocess.run([str(BIN / "python"), "-m", "compileall", "-q", str(tree)], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    counts = [int(x) for x in args.hosts.split(",") if x.strip()]
    load = os.getloadavg()
    print(
        f"hosts bench: {counts} hosts, {args.runs} run(s) each, RLIMIT_NOFILE {FD_LIMIT}; "
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f}",
        flush=True,
    )
    lab = Lab(Path(tempfile.mkdtemp(prefix="cloudtales-bench-hosts-")), args.port)
    sizes: list[Size] = []
    try:
        lab.start()
        for n in counts:
            with_ansible = n <= args.ansible_max
            sizes.append(bench_size(lab, n, args.runs, with_ansible, command, args.baseline))
    finally:
        lab.stop()
        shutil.rmtree(lab.dir, ignore_errors=True)
    table = rows(sizes)
    print(f"\n{'what':<44} {'s':>7}  {'anchor':<22} {'s':>7} {'ratio':>6}")
    for r in table:
        print(
            f"{r['what']!s:<44} {_fmt(r['value'], '7.2f')}  {r['anchor']!s:<22} "
            f"{_fmt(r['anchor_value'], '7.2f')} {_fmt(r['ratio'], '6.2f')}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    failures = [f for s in sizes for f in s.failures()]
    for f in failures:
        print(f"FAILED {f}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"bench": "hosts", "rows": table}, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
