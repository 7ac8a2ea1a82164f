"""``sudo -n`` for non-root logins, against a real sshd and real sudo.

Three throwaway users are created for the module (``useradd``, removed with ``userdel``
at teardown, their sudoers.d files too): one with a NOPASSWD rule, one whose rule needs a
password, one not in sudoers at all. They log in with one key to a scratch sshd
(tests/sshd_fixture.py) whose files sit in a directory they can read.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.errors import CloudtalesError
from engine.hosts_probe import probe_hosts
from engine.privilege import (
    PrivilegedRunner,
    PrivilegeError,
    SudoStatus,
    become_for,
    login_user,
    parse_sudo_probe,
    sudo_command,
    sudo_refused,
    with_privilege,
)
from engine.remote.factory import InventoryRunner, make_runner
from engine.remote.inventory import Host, Inventory, SshSettings
from engine.remote.local import LocalRunner
from tests.sshd_fixture import SshdServer

SUDOERS_D = Path("/etc/sudoers.d")


@dataclass(frozen=True)
class Users:
    nopasswd: str
    password: str
    nobody: str  # not in sudoers
    server: SshdServer

    def inventory(self, **hosts: Host) -> Inventory:
        ssh = self.server.inventory(username=None).ssh
        return Inventory(name="privilege", ssh=ssh, hosts=hosts)

    def host(self, user: str, **kw: object) -> Host:
        return Host.model_validate(
            {"address": "127.0.0.1", "port": self.server.port, "username": user, **kw}
        )


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def users() -> Iterator[Users]:
    assert shutil.which("sudo"), "sudo is needed (apt install sudo)"
    assert os.geteuid() == 0, "creating test users needs root"
    base = Path(tempfile.mkdtemp(prefix="ct-priv-"))
    base.chmod(0o755)  # the users' sshd sessions read authorized_keys in here
    tag = secrets.token_hex(3)
    names = {kind: f"ctp{tag}{kind}" for kind in ("n", "p", "x")}
    rules = {"n": "ALL=(root) NOPASSWD: ALL", "p": "ALL=(root) ALL"}
    created: list[str] = []
    server = SshdServer(base / "sshd")
    try:
        for kind, name in names.items():
            _run("useradd", "-m", "-d", str(base / name), "-s", "/bin/sh", name)
            created.append(name)
            _run("usermod", "-p", "*", name)  # no password, but not locked (sshd checks)
            if kind in rules:
                rule = SUDOERS_D / f"cloudtales-test-{name}"
                rule.write_text(f"{name} {rules[kind]}\n")
                rule.chmod(0o440)
        server.start()
        yield Users(names["n"], names["p"], names["x"], server)
    finally:
        server.stop()
        for name in created:
            (SUDOERS_D / f"cloudtales-test-{name}").unlink(missing_ok=True)
            subprocess.run(["pkill", "-KILL", "-u", name], check=False)
            subprocess.run(["userdel", "-r", name], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


def pids(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def owner(pid: int) -> str:
    out = subprocess.run(["ps", "-o", "user=", "-p", str(pid)], capture_output=True, text=True)
    return out.stdout.strip()


async def wait_until(predicate: object, limit: float = 10.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())  # type: ignore[operator]


# ---------------------------------------------------------------- real sudo over ssh


async def test_nopasswd_user_runs_commands_as_root(users: Users) -> None:
    inv = users.inventory(target=users.host(users.nopasswd))
    runner = make_runner(inv)
    assert isinstance(runner, PrivilegedRunner)
    try:
        res = await runner.run(inv.host("target"), "id -u; id -un", timeout=15)
        assert (res.exit_status, res.stdout) == (0, "0\nroot\n"), res.stderr
        assert res.command == "id -u; id -un"  # journals keep what the check asked for
        lines = runner.stream_lines(inv.host("target"), "echo 'a b'; id -u", timeout=15)
        async with contextlib.aclosing(lines):
            assert [line async for line in lines] == ["a b", "0"]
        status = await runner.sudo_status(inv.host("target"))
        assert status == SudoStatus("nopasswd", users.nopasswd)
    finally:
        await runner.close()


async def test_cancelling_a_sudo_command_kills_it_on_the_host(users: Users) -> None:
    inv = users.inventory(target=users.host(users.nopasswd))
    runner = make_runner(inv)
    mark = f"3{secrets.randbelow(10**7) + 10**7}"
    try:
        task = asyncio.ensure_future(runner.run(inv.host("target"), f"sleep {mark}", timeout=60))
        assert await wait_until(lambda: pids(f"^sleep {mark}")), "the command never started"
        assert owner(pids(f"^sleep {mark}")[0]) == "root"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await wait_until(lambda: not pids(f"sleep {mark}")), "sleep survived the cancel"
    finally:
        await runner.close()


async def test_closing_a_sudo_stream_early_kills_its_command(users: Users) -> None:
    inv = users.inventory(target=users.host(users.nopasswd))
    runner = make_runner(inv)
    mark = f"3{secrets.randbelow(10**7) + 10**7}"
    try:
        lines = runner.stream_lines(inv.host("target"), f"id -u; sleep {mark}", timeout=60)
        async with contextlib.aclosing(lines):
            assert await anext(lines) == "0"
            assert await wait_until(lambda: pids(f"^sleep {mark}"))
        assert await wait_until(lambda: not pids(f"sleep {mark}")), "sleep survived the close"
    finally:
        await runner.close()


@pytest.mark.parametrize("who", ["password", "nobody"])
async def test_sudo_that_would_prompt_is_one_operator_line(users: Users, who: str) -> None:
    user = getattr(users, who)
    inv = users.inventory(nc01=users.host(user))
    runner = make_runner(inv)
    marker = Path(tempfile.gettempdir()) / f"ct-priv-{secrets.token_hex(4)}"
    try:
        with pytest.raises(PrivilegeError) as err:
            await runner.run(inv.host("nc01"), f"touch {marker}", timeout=15)
    finally:
        await runner.close()
    assert str(err.value) == (
        f"host nc01: sudo needs a password (sudo -n refused); add a NOPASSWD rule for {user} "
        f"({user} ALL=(root) NOPASSWD: ALL in /etc/sudoers.d/cloudtales) or log in as root"
    )
    assert "\n" not in str(err.value)
    assert isinstance(err.value, CloudtalesError)
    assert not marker.exists()  # nothing ran


async def test_become_none_runs_as_the_login_user(users: Users) -> None:
    inv = users.inventory(target=users.host(users.password, become="none"))
    runner = make_runner(inv)
    assert isinstance(runner, InventoryRunner)  # no host needs sudo: no wrapper at all
    try:
        res = await runner.run(inv.host("target"), "id -un", timeout=15)
        assert res.stdout == f"{users.password}\n"
    finally:
        await runner.close()


async def test_hosts_probe_reports_sudo_per_user(users: Users) -> None:
    inv = users.inventory(
        a=users.host(users.nopasswd),
        b=users.host(users.password),
        c=users.host(users.nobody),
        r=users.host("root"),
    )
    runner = InventoryRunner(inv)
    finished: list[str] = []
    try:
        probes = await probe_hosts(inv, runner, on_done=lambda p: finished.append(p.host))
    finally:
        await runner.close()
    assert sorted(finished) == ["a", "b", "c", "r"]
    by = {p.host: p for p in probes}
    assert [p.host for p in probes] == ["a", "b", "c", "r"]  # inventory order
    assert {h: by[h].sudo.state for h in by if by[h].sudo} == {  # type: ignore[union-attr]
        "a": "nopasswd",
        "b": "password",
        "c": "password",
        "r": "root",
    }
    assert [by[h].root_ok for h in "abcr"] == [True, False, False, True]
    assert by["a"].user == users.nopasswd
    assert (by["b"].become, by["r"].become) == ("sudo", "none")
    assert by["r"].tools["tcpdump"] == shutil.which("tcpdump")
    # a non-root PATH lacks /usr/sbin: the probe still finds tcpdump there
    assert by["a"].tools["tcpdump"] is not None


# ---------------------------------------------------------------- the pieces


def test_parse_sudo_probe_cases() -> None:
    assert parse_sudo_probe("uid=0\nuser=root\nsudo=root\n").state == "root"
    assert parse_sudo_probe("uid=1000\nuser=ops\nsudo=absent\n") == SudoStatus("no-sudo", "ops")
    assert parse_sudo_probe("uid=1000\nuser=ops\nsudo_rc=0\n").state == "nopasswd"
    pw = parse_sudo_probe("uid=1000\nuser=ops\nsudo_rc=1\nsudo_said=sudo: a password is required")
    assert (pw.state, pw.said, pw.ok) == ("password", "sudo: a password is required", False)
    denied = "sudo_said=ops is not in the sudoers file.  This incident will be reported."
    assert parse_sudo_probe(f"uid=5\nuser=ops\nsudo_rc=1\n{denied}").state == "not-allowed"
    assert parse_sudo_probe("uid=5\nuser=ops\nsudo_rc=1\n").state == "refused"
    assert parse_sudo_probe("").state == "refused"  # nothing said: never "ok"


def test_each_refusal_names_the_host_and_the_fix() -> None:
    for state in ("not-allowed", "no-sudo", "refused"):
        text = str(SudoStatus(state, "ops", "x").error("cc01"))  # type: ignore[arg-type]
        assert text.startswith("host cc01: ")
        assert text.endswith(
            "add a NOPASSWD rule for ops (ops ALL=(root) NOPASSWD: ALL in "
            "/etc/sudoers.d/cloudtales) or log in as root"
        )


async def test_sudo_command_keeps_quoting_and_exit_status() -> None:
    """Run the wrapped line for real (as root here, where sudo -n always works)."""
    runner = LocalRunner()
    local = Host(name="local", transport="local")
    res = await runner.run(local, sudo_command("echo 'a  b' | wc -c; exit 3"), timeout=15)
    assert (res.exit_status, res.stdout.strip()) == (3, "5")
    assert sudo_refused("sudo: a password is required\n")
    assert not sudo_refused("tcpdump: a password is required")  # not sudo speaking


def test_become_defaults_follow_the_login_user(tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text("Host nc*\n  User ops\nHost cc01\n  User root\n")
    inv = Inventory(
        ssh=SshSettings(config=str(config)),
        hosts={
            "cc01": Host(address="cc01"),
            "nc01": Host(address="nc01"),
            "nc02": Host(address="nc02", become="none"),
            "db": Host(address="db", username="root"),
            "ops": Host(address="cc01", username="ops"),
        },
    )
    assert login_user(inv.host("nc01"), inv) == "ops"
    assert login_user(inv.host("cc01"), inv) == "root"
    got = {name: become_for(h, inv) for name, h in inv.hosts.items()}
    assert got == {"cc01": "none", "nc01": "sudo", "nc02": "none", "db": "none", "ops": "sudo"}
    assert isinstance(with_privilege(InventoryRunner(inv), inv), PrivilegedRunner)
    root_only = Inventory(ssh=SshSettings(username="root"), hosts={"a": Host()})
    assert isinstance(with_privilege(InventoryRunner(root_only), root_only), InventoryRunner)


def test_sudo_n_refuses_locally_for_a_fresh_user(users: Users) -> None:
    """The same refusal without ssh: ``su`` to the user, run the probe line itself."""
    from engine.privilege import SUDO_PROBE

    out = subprocess.run(
        ["su", "-s", "/bin/sh", users.password, "-c", SUDO_PROBE],
        capture_output=True,
        text=True,
        timeout=15,
        cwd="/",
    )
    status = parse_sudo_probe(out.stdout)
    assert (status.state, status.user) == ("password", users.password), out.stdout + out.stderr
