"""``cloudtales hosts`` on an Ansible INI inventory: a real sshd, this machine, a dead port."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.sshd_fixture import SshdServer

REPO = Path(__file__).resolve().parents[2]
CLOUDTALES = str(Path(sys.executable).with_name("cloudtales"))


@pytest.fixture
def inventory(sshd_server: SshdServer, tmp_path: Path) -> Path:
    """sshd reached with a per-host key (ansible_ssh_private_key_file) and the -F config."""
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host 127.0.0.1\n  UserKnownHostsFile {sshd_server.known_hosts}\n"
        "  StrictHostKeyChecking yes\n"
    )
    path = tmp_path / "hosts"
    path.write_text(
        "[compute]\n"
        f"target ansible_host=127.0.0.1 ansible_port={sshd_server.port} ansible_user=root "
        f"ansible_ssh_private_key_file={sshd_server.client_key}\n"
        "[control]\n"
        "me ansible_connection=local\n"
        "dead ansible_host=127.0.0.1 ansible_port=1\n"
        "[all:vars]\n"
        f"ansible_ssh_common_args='-F {config}'\n"
    )
    return path


def cloudtales(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLOUDTALES, *args], capture_output=True, text=True, timeout=60, cwd=REPO)


def test_table_progress_and_exit_status(inventory: Path, sshd_server: SshdServer) -> None:
    out = cloudtales("hosts", "-i", str(inventory))
    assert out.returncode == 1, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == [
        "HOST", "ADDRESS", "VIA", "USER", "ROLES", "SSH",
        "TCPDUMP", "IP", "QEMU-IMG", "VIRSH", "SUDO",
    ]  # fmt: skip
    rows = {ln.split()[0]: ln.split() for ln in lines[1:4]}
    assert rows["target"][1:6] == [f"127.0.0.1:{sshd_server.port}", "-", "root", "compute", "ok"]
    assert (rows["me"][1], rows["dead"][1]) == ("local", "127.0.0.1:1")
    assert rows["target"][-1] == "root"
    assert rows["me"][4:6] == ["controller,control", "ok"]
    assert rows["dead"][5:] == ["FAIL", "-", "-", "-", "-", "-"]
    # the columns line up: every row starts its SSH cell where the header does
    col = lines[0].index("SSH")
    assert {ln[col : col + 4].strip() for ln in lines[1:4]} == {"ok", "FAIL"}
    assert "  dead: connection refused by 127.0.0.1:1" in out.stdout
    assert (
        "2 of 3 host(s) reachable; 1 unreachable; root (login or sudo -n) on 2 of 2" in out.stdout
    )
    progress = out.stderr.splitlines()
    assert progress[0].startswith(f"probing 3 host(s) from {inventory}")
    assert sorted(ln.split()[0] for ln in progress[1:]) == ["[1/3]", "[2/3]", "[3/3]"]
    assert any(ln.endswith("connection refused by 127.0.0.1:1") for ln in progress)


def test_limit_and_json(inventory: Path) -> None:
    out = cloudtales("hosts", "-i", str(inventory), "--limit", "comp*", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    (target,) = data["hosts"]
    assert (target["host"], target["reachable"], target["sudo"], target["root_ok"]) == (
        "target", True, "root", True,
    )  # fmt: skip
    assert target["tools"]["ip"]


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "hosts"
    broken.write_text("[compute\nnc01\n")
    out = cloudtales("hosts", "-i", str(broken))
    assert (out.returncode, out.stdout) == (2, "")
    assert out.stderr == f"cloudtales: error: {broken}:1: malformed section header '[compute' " \
        "(expected [group], [group:vars] or [group:children], no spaces)\n"  # fmt: skip
    out = cloudtales("hosts", "-i", str(broken), "--write-inventory", "x.yaml")
    assert out.stderr.count("\n") == 1
    assert "--write-inventory needs --nova" in out.stderr


def test_hosts_never_imports_textual(inventory: Path) -> None:
    code = (
        "import sys\nfrom tui.cli import main\n"
        f"rc = main(['hosts', '-i', {str(inventory)!r}, '--limit', 'me'])\n"
        "ui = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "import gc\n"  # the collector, paused for start-up, is back as it was
        "print('RESULT', rc, ui, gc.isenabled(), gc.get_freeze_count())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert out.stdout.splitlines()[-1] == "RESULT 0 [] True 0", out.stderr


def test_more_hosts_than_the_open_file_limit_leaves_room_for(
    sshd_server: SshdServer, tmp_path: Path
) -> None:
    """RLIMIT_NOFILE 70 leaves 6 connections (70 - 64): 6 hosts at a time, all 80 answer.

    80 connections kept open to the end would not fit in 70 descriptors: idle ones close."""
    inv = sshd_server.inventory()
    hosts = {f"h{i:02d}": {"address": "127.0.0.1", "port": sshd_server.port} for i in range(80)}
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump({"name": "many", "ssh": inv.ssh.model_dump(), "hosts": hosts}))

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (70, 70))

    out = subprocess.run(
        [CLOUDTALES, "hosts", "-i", str(path), "--json"],
        capture_output=True, text=True, timeout=120, cwd=REPO, preexec_fn=low_limit,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines()[0].endswith(", 6 at a time (open-file limit 70)")
    assert [h["reachable"] for h in json.loads(out.stdout)["hosts"]] == [True] * 80
    assert len(out.stderr.splitlines()) == 81  # the first line, then one per host


def test_the_probe_script_answers_with_builtins_and_sbin_fallbacks() -> None:
    """Run as sshd would (sh, a PATH without sbin): the same answers as the tools give."""
    import getpass
    import os
    import socket

    from engine.hosts_probe import probe_script
    from engine.privilege import parse_sudo_probe

    out = subprocess.run(
        ["sh", "-c", probe_script(("ip", "no-such-tool-x"))],
        capture_output=True, text=True, env={"PATH": "/nonexistent::/bin"}, check=True,
    ).stdout  # fmt: skip
    fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert fields["hostname"] == socket.gethostname()
    assert fields["kernel"] == os.uname().release
    assert fields["tool_ip"] in ("/bin/ip", "/usr/sbin/ip", "/sbin/ip")
    assert fields["tool_no-such-tool-x"] == ""
    assert (fields["uid"], fields["user"]) == (str(os.getuid()), getpass.getuser())
    assert parse_sudo_probe(out).user == getpass.getuser()


async def test_the_probe_runs_without_the_watchdog_where_the_runner_can() -> None:
    """One remote command per host, sent through ``run_short`` (no watchdog, no backstop)."""
    from engine.hosts_probe import probe_hosts, probe_script
    from engine.remote.inventory import Host, Inventory
    from engine.remote.runner import CommandResult

    class Recorder:
        def __init__(self) -> None:
            self.calls: list[tuple[str, str]] = []

        async def run_short(self, host: Host, command: str, timeout: float = 30) -> CommandResult:
            self.calls.append((host.name, command))
            out = "hostname=n\nkernel=6\nuid=0\nuser=root\nsudo=root\n"
            return CommandResult(host.name, command, 0, out, "", 0.0)

        async def run(self, host: Host, command: str, timeout: float = 30) -> CommandResult:
            raise AssertionError("the probe went through run()")

    inv = Inventory(hosts={"a": Host(address="10.0.0.1"), "b": Host(address="10.0.0.2")})
    runner = Recorder()
    probes = await probe_hosts(inv, runner)  # type: ignore[arg-type]
    assert [p.host for p in probes] == ["a", "b"]
    assert all(p.reachable and p.root_ok for p in probes)
    assert sorted(runner.calls) == [("a", probe_script()), ("b", probe_script())]


def test_the_summary_names_at_most_ten_hosts_per_missing_tool() -> None:
    from engine.hosts_probe import HostProbe
    from engine.privilege import SudoStatus
    from tui.hosts_cli import summary

    def probe(i: int) -> HostProbe:
        return HostProbe(
            host=f"h{i:04d}", address=f"127.0.{i // 254}.{i % 254 + 1}", transport="ssh",
            reachable=True, become="none", tools={"virsh": None, "ip": "/usr/sbin/ip"},
            sudo=SudoStatus("root", "root"),
        )  # fmt: skip

    text = summary([probe(i) for i in range(1000)])
    assert text.splitlines() == [
        "1000 of 1000 host(s) reachable; root (login or sudo -n) on 1000 of 1000",
        "  no virsh on: h0000, h0001, h0002, h0003, h0004, h0005, h0006, h0007, h0008, h0009"
        " and 990 more (1000 hosts)",
    ]
    assert summary([probe(0), probe(1)]).splitlines()[1] == "  no virsh on: h0000, h0001"


def test_uid_and_user_come_from_builtins_without_id() -> None:
    """No ``id`` on PATH: /proc/self/status and /etc/passwd answer (one process less)."""
    import getpass
    import os

    from engine.privilege import SUDO_PROBE, parse_sudo_probe

    out = subprocess.run(
        ["/bin/sh", "-c", SUDO_PROBE],
        capture_output=True, text=True, env={"PATH": "/nonexistent"}, check=True,
    ).stdout  # fmt: skip
    fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert (fields["uid"], fields["user"]) == (str(os.getuid()), getpass.getuser())
    assert parse_sudo_probe(out).user == getpass.getuser()
