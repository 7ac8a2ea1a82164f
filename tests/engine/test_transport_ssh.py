"""SshRunner against a real OpenSSH sshd on loopback (fixture ``sshd``, tests/sshd_fixture.py).

Remote processes are checked with ``pgrep -f`` on this machine, which is the host: each
test uses a unique marker (a number in a ``sleep`` or tcpdump ``-c`` argument), waits
(bounded poll) until the process runs, and after the cancel polls (bounded) until no
process with the marker is left, the wrapper shells included.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from engine.errors import CheckTimeoutError, TransportError
from engine.remote.factory import InventoryRunner, make_runner
from engine.remote.inventory import Host, Inventory
from engine.remote.local import LocalRunner
from engine.remote.runner import Runner
from engine.remote.ssh import SshRunner, wrap_command
from tests.sshd_fixture import SshdServer, _free_port

REPO = Path(__file__).resolve().parents[2]


def marker() -> str:
    """A number no other process on the machine has in its command line."""
    return f"3{random.randrange(10**7, 10**8)}"


def pids(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


async def wait_until(predicate: Any, limit: float = 10.0) -> bool:
    """Poll ``predicate`` every 20 ms for at most ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())


async def wait_running(pattern: str) -> None:
    assert await wait_until(lambda: pids(pattern)), f"no process matches {pattern!r}"


def listing(pattern: str) -> str:
    return subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True).stdout


async def wait_gone(pattern: str) -> None:
    ok = await wait_until(lambda: not pids(pattern))
    assert ok, f"still running on the host:\n{listing(pattern)}"


@pytest.fixture
async def runner(sshd: Inventory) -> AsyncIterator[SshRunner]:
    r = SshRunner(sshd)
    try:
        yield r
    finally:
        await r.close()


def target(inv: Inventory) -> Host:
    return inv.host("target")


# -- running commands -----------------------------------------------------------------


async def test_run_returns_stdout_stderr_and_exit_status(
    sshd: Inventory, runner: SshRunner
) -> None:
    res = await runner.run(target(sshd), "echo out; echo err >&2; exit 3")
    assert res.host == "target"
    assert res.command == "echo out; echo err >&2; exit 3"
    assert (res.stdout, res.stderr, res.exit_status) == ("out\n", "err\n", 3)
    assert not res.ok
    assert res.duration > 0


async def test_run_quoting_stdin_and_signals(sshd: Inventory, runner: SshRunner) -> None:
    host = target(sshd)
    quoted = await runner.run(host, """printf '%s|%s\\n' "it's" '$HOME "x"'""")
    assert quoted.stdout == """it's|$HOME "x"\n"""
    assert quoted.ok
    # stdin is /dev/null: a command that reads it ends at once instead of hanging
    assert (await runner.run(host, "cat; echo after", timeout=5)).stdout == "after\n"
    # killed by a signal: shell convention 128 + N
    assert (await runner.run(host, "kill -TERM $$")).exit_status == 128 + signal.SIGTERM


async def test_run_short_runs_plain_sh_without_the_watchdog(
    sshd: Inventory, runner: SshRunner
) -> None:
    host = target(sshd)
    show = 'tr "\\0" " " </proc/$$/cmdline; echo; exit 3'
    short = await runner.run_short(host, show)
    assert short.stdout.startswith("sh -c ")  # the login shell exec'd sh, nothing around it
    assert "timeout" not in short.stdout
    assert "trap" not in short.stdout
    assert short.exit_status == 3
    guarded = await runner.run(host, show)
    assert "trap '' TERM" in guarded.stdout  # run: under the watchdog
    assert guarded.exit_status == 3
    quoted = await runner.run_short(host, """printf '%s|%s\\n' "it's" '$HOME "x"'""")
    assert quoted.stdout == """it's|$HOME "x"\n"""


async def test_twenty_concurrent_commands_share_one_connection(
    sshd_server: SshdServer, sshd: Inventory, runner: SshRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    connects = 0
    real_connect = asyncssh.connect

    async def counting_connect(*args: Any, **kwargs: Any) -> asyncssh.SSHClientConnection:
        nonlocal connects
        connects += 1
        return await real_connect(*args, **kwargs)

    monkeypatch.setattr(asyncssh, "connect", counting_connect)
    host = target(sshd)
    started = time.monotonic()
    results = await asyncio.gather(*(runner.run(host, f"sleep 0.3; echo {i}") for i in range(20)))
    elapsed = time.monotonic() - started
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(20)]
    assert connects == 1
    assert len(runner.connections) == 1
    # sshd forks one process per client connection: one connection on the server too
    assert len(sshd_server.session_pids()) == 1
    # 20 x 0.3 s run side by side (sshd's MaxSessions 10: two waves), not one by one
    assert elapsed < 3.0
    assert (await runner.run(host, "echo again")).stdout == "again\n"
    assert connects == 1


# -- streaming ------------------------------------------------------------------------


async def test_stream_lines_arrive_incrementally(
    sshd: Inventory, runner: SshRunner, tmp_path: Path
) -> None:
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    stream = runner.stream_lines(target(sshd), f"echo first; read go < {fifo}; echo second $go")
    async with contextlib.aclosing(stream):
        # "second" cannot exist yet: the command is blocked until we write the fifo
        assert await anext(stream) == "first"
        await asyncio.to_thread(fifo.write_text, "now\n")
        assert [line async for line in stream] == ["second now"]


async def test_stream_bytes_are_binary_exact(
    sshd: Inventory, runner: SshRunner, tmp_path: Path
) -> None:
    copy = tmp_path / "sent.bin"
    errors: list[str] = []
    chunks = [
        chunk
        async for chunk in runner.stream_bytes(
            target(sshd),
            f"head -c 300000 /dev/urandom | tee {copy}; echo 'done: 300000' >&2",
            on_stderr=errors.append,
        )
    ]
    data = b"".join(chunks)
    assert len(data) == 300000
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(copy.read_bytes()).hexdigest()
    assert len(chunks) > 1  # it really streamed
    assert errors == ["done: 300000"]


async def test_stream_bytes_reports_stderr_before_data(sshd: Inventory, runner: SshRunner) -> None:
    """tcpdump says ``listening on`` on stderr before any packet: the callback sees it live."""
    if shutil.which("tcpdump") is None:
        pytest.fail("tcpdump not found: apt install tcpdump (.ci/setup installs it)")
    port = _free_port()
    errors: list[str] = []
    listening = asyncio.Event()

    def on_stderr(line: str) -> None:
        errors.append(line)
        if line.startswith("tcpdump: listening on lo"):
            listening.set()

    stream = runner.stream_bytes(
        target(sshd), f"tcpdump -i lo -U -w - -c 1 udp port {port}", on_stderr=on_stderr
    )
    async with contextlib.aclosing(stream):

        async def first_chunk() -> bytes:
            return await anext(stream)

        header = asyncio.create_task(first_chunk())
        await asyncio.wait_for(listening.wait(), 10)
        assert (await header)[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4")  # pcap magic
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"cloudtales-probe", ("127.0.0.1", port))
        rest = b"".join([chunk async for chunk in stream])
    assert b"cloudtales-probe" in rest  # the one packet record, captured whole
    assert any("1 packet captured" in e for e in errors)


# -- cancellation kills the remote process ---------------------------------------------


async def test_cancelling_a_line_stream_kills_the_remote_process(
    sshd: Inventory, runner: SshRunner
) -> None:
    m = marker()
    got_line = asyncio.Event()

    async def consume() -> None:
        async for _line in runner.stream_lines(target(sshd), f"echo ready; exec sleep {m}"):
            got_line.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_line.wait(), 10)
    await wait_running(f"^sleep {m}$")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_gone(m)


async def test_cancelling_a_tcpdump_byte_stream_kills_tcpdump(
    sshd: Inventory, runner: SshRunner
) -> None:
    if shutil.which("tcpdump") is None:
        pytest.fail("tcpdump not found: apt install tcpdump (.ci/setup installs it)")
    m = marker()
    listening = asyncio.Event()

    def on_stderr(line: str) -> None:
        if "listening on" in line:
            listening.set()

    async def consume() -> None:
        async for _chunk in runner.stream_bytes(
            target(sshd), f"tcpdump -i lo -U -w - -c {m} 'udp port 9'", on_stderr=on_stderr
        ):
            pass

    task = asyncio.create_task(consume())
    await asyncio.wait_for(listening.wait(), 10)
    assert pids(f"^tcpdump .*-c {m}"), "tcpdump is not running"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_gone(m)


async def test_closing_a_stream_early_kills_the_remote_process(
    sshd: Inventory, runner: SshRunner
) -> None:
    m = marker()
    stream = runner.stream_lines(target(sshd), f"echo one; echo two; exec sleep {m}")
    assert await anext(stream) == "one"
    await wait_running(f"^sleep {m}$")
    await stream.aclose()
    await wait_gone(m)


async def test_break_out_of_async_for_kills_the_remote_process(
    sshd: Inventory, runner: SshRunner
) -> None:
    m = marker()
    async for line in runner.stream_lines(target(sshd), f"echo one; exec sleep {m}"):
        assert line == "one"
        await wait_running(f"^sleep {m}$")
        break
    # nothing refers to the generator any more: the loop finalizes it, which closes it
    await wait_gone(m)


async def test_children_in_other_process_groups_are_killed_too(
    sshd: Inventory, runner: SshRunner
) -> None:
    """A nested ``timeout`` puts itself in a new process group; the session sweep gets it."""
    m = marker()
    stream = runner.stream_lines(target(sshd), f"echo ready; timeout 300 sleep {m} | cat")
    assert await anext(stream) == "ready"
    await wait_running(f"^sleep {m}$")
    await stream.aclose()
    await wait_gone(m)


async def test_timeout_raises_check_timeout_and_kills(sshd: Inventory, runner: SshRunner) -> None:
    m = marker()
    started = time.monotonic()
    with pytest.raises(CheckTimeoutError) as info:
        await runner.run(target(sshd), f"sleep {m}", timeout=0.5)
    assert time.monotonic() - started < 3
    message = str(info.value)
    assert "target" in message
    assert f"sleep {m}" in message
    assert "0.5s" in message
    assert "\n" not in message
    await wait_gone(m)


async def test_stream_deadline_raises_check_timeout_and_kills(
    sshd: Inventory, runner: SshRunner
) -> None:
    m = marker()
    seen: list[str] = []

    async def consume() -> None:
        async for line in runner.stream_lines(target(sshd), f"echo a; sleep {m}", timeout=1.0):
            seen.append(line)

    with pytest.raises(CheckTimeoutError, match=f"target.*sleep {m}"):
        await consume()
    assert seen == ["a"]
    await wait_gone(m)


async def test_lost_connection_kills_the_remote_process(sshd: Inventory, runner: SshRunner) -> None:
    """The watchdog alone (no channel close sent): the TCP connection just goes away."""
    m = marker()
    stream = runner.stream_lines(target(sshd), f"echo ready; exec sleep {m}")
    assert await anext(stream) == "ready"
    await wait_running(f"^sleep {m}$")
    (conn,) = runner.connections.values()
    conn.abort()  # drop the transport, as a network cut or a crashed client would
    await wait_gone(m)
    with pytest.raises(TransportError, match="connection lost"):
        await anext(stream)
    # the next call opens a fresh connection
    assert (await runner.run(target(sshd), "echo back")).stdout == "back\n"
    assert len(runner.connections) == 1


_CRASHING_CLIENT = """
import asyncio, json, sys
from engine.remote.inventory import Inventory
from engine.remote.ssh import SshRunner

async def main() -> None:
    inv = Inventory.model_validate(json.loads(sys.argv[1]))
    async for line in SshRunner(inv).stream_lines(inv.host("target"), sys.argv[2]):
        print(line, flush=True)

asyncio.run(main())
"""


async def test_killed_client_process_kills_the_remote_process(sshd: Inventory) -> None:
    """cloudtales itself dies (SIGKILL, no cleanup at all): the command dies on the host."""
    m = marker()
    client = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CRASHING_CLIENT,
        sshd.model_dump_json(),
        f"echo ready; exec sleep {m}",
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    assert client.stdout is not None
    assert await asyncio.wait_for(client.stdout.readline(), 20) == b"ready\n"
    await wait_running(f"^sleep {m}$")
    client.kill()
    await client.wait()
    await wait_gone(m)


def test_wrapped_command_survives_any_quoting() -> None:
    cmd = """printf '%s\\n' "a'b" `echo x` $(echo y) \\\\"""
    wrapped = wrap_command(cmd, 10)
    assert wrapped.startswith("exec timeout -k 5 15 sh -c ")
    # As sshd runs it: in a session of its own, stdin held open (the watchdog's `cat`
    # sees EOF only when we close it, and then TERMs that session, never ours).
    proc = subprocess.Popen(
        ["bash", "-c", wrapped],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    out = proc.stdout.read()
    assert proc.wait() == 0
    proc.stdin.close()
    expected = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=True)
    assert out == expected.stdout == "a'b\nx\ny\n\\\n"


# -- connection errors ----------------------------------------------------------------


def _assert_one_line_transport_error(exc: TransportError) -> str:
    text = str(exc)
    assert exc.host == "target"
    assert text.startswith("host target: ")
    assert "\n" not in text
    assert "Traceback" not in text
    assert exc.__cause__ is None
    return text


async def test_wrong_host_key_is_a_transport_error(sshd_server: SshdServer) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519")
    sshd_server.known_hosts.write_text(sshd_server.known_hosts_line(other))
    inv = sshd_server.inventory()
    r = SshRunner(inv)
    with pytest.raises(TransportError) as info:
        await r.run(target(inv), "true")
    assert "host key" in _assert_one_line_transport_error(info.value)
    assert r.connections == {}
    await r.close()


async def test_unknown_host_key_is_a_transport_error(
    sshd_server: SshdServer, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    inv = sshd_server.inventory(known_hosts=str(empty))
    with pytest.raises(TransportError) as info:
        await SshRunner(inv).run(target(inv), "true")
    assert "host key" in _assert_one_line_transport_error(info.value)


async def test_config_that_disables_host_key_checking_is_refused(
    sshd_server: SshdServer, tmp_path: Path
) -> None:
    config = tmp_path / "ssh_config"
    config.write_text("Host *\n  UserKnownHostsFile none\n  StrictHostKeyChecking no\n")
    inv = sshd_server.inventory(known_hosts=None, config=str(config))
    with pytest.raises(TransportError) as info:
        await SshRunner(inv).run(target(inv), "true")
    assert "host key checking" in _assert_one_line_transport_error(info.value)


async def test_connection_refused_is_a_transport_error(sshd: Inventory) -> None:
    target(sshd).port = _free_port()  # nothing listens there
    with pytest.raises(TransportError) as info:
        await SshRunner(sshd).run(target(sshd), "true")
    assert "refused" in _assert_one_line_transport_error(info.value)


async def test_unresolvable_host_is_a_transport_error(sshd: Inventory) -> None:
    target(sshd).address = "no-such-host.invalid"
    with pytest.raises(TransportError) as info:
        await SshRunner(sshd).run(target(sshd), "true")
    assert "resolve" in _assert_one_line_transport_error(info.value)


async def test_authentication_failure_is_a_transport_error(
    sshd_server: SshdServer, tmp_path: Path
) -> None:
    stranger = tmp_path / "id_stranger"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(stranger))
    inv = sshd_server.inventory(client_keys=[str(stranger)])
    with pytest.raises(TransportError) as info:
        await SshRunner(inv).run(target(inv), "true")
    assert "authentication failed" in _assert_one_line_transport_error(info.value)


async def test_missing_client_key_file_is_a_transport_error(
    sshd_server: SshdServer, tmp_path: Path
) -> None:
    inv = sshd_server.inventory(client_keys=[str(tmp_path / "nope")])
    with pytest.raises(TransportError) as info:
        await SshRunner(inv).run(target(inv), "true")
    assert "nope" in _assert_one_line_transport_error(info.value)


async def test_ssh_config_supplies_hostname_and_port(
    sshd_server: SshdServer, tmp_path: Path
) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(f"Host lab-target\n  HostName 127.0.0.1\n  Port {sshd_server.port}\n")
    inv = Inventory.model_validate(
        {
            "ssh": {
                "known_hosts": str(sshd_server.known_hosts),
                "client_keys": [str(sshd_server.client_key)],
                "config": str(config),
                "username": sshd_server.username,
            },
            "hosts": {"target": {"address": "lab-target"}},  # no port: the config's applies
        }
    )
    runner = SshRunner(inv)
    try:
        assert (await runner.run(target(inv), "echo via-config")).stdout == "via-config\n"
    finally:
        await runner.close()


async def test_close_closes_every_connection(sshd_server: SshdServer, sshd: Inventory) -> None:
    runner = SshRunner(sshd)
    await runner.run(target(sshd), "true")
    assert len(sshd_server.session_pids()) == 1
    await runner.close()
    assert runner.connections == {}
    assert await wait_until(lambda: not sshd_server.session_pids())


# -- the factory ------------------------------------------------------------------------


async def test_make_runner_dispatches_on_transport(sshd: Inventory) -> None:
    sshd.hosts["here"] = Host(name="here", transport="local")
    runner = make_runner(sshd)
    assert isinstance(runner, Runner)
    assert isinstance(runner, InventoryRunner)
    assert isinstance(runner.runner_for(sshd.host("here")), LocalRunner)
    assert isinstance(runner.runner_for(target(sshd)), SshRunner)
    try:
        remote = await runner.run(target(sshd), "echo $SSH_CONNECTION")
        local = await runner.run(sshd.host("here"), "echo ${SSH_CONNECTION:-none}")
        assert remote.stdout.split()[2] == "127.0.0.1"  # it came in over ssh
        assert remote.stdout.split()[3] == str(target(sshd).port)
        assert local.stdout == "none\n"
        lines = [line async for line in runner.stream_lines(target(sshd), "echo a; echo b")]
        assert lines == ["a", "b"]
        data = b"".join([c async for c in runner.stream_bytes(sshd.host("here"), "printf 'x\\0y'")])
        assert data == b"x\0y"
    finally:
        await runner.close()


def _session_sshd(pid: int) -> int:
    """The ``sshd: USER@notty`` process a remote command ``pid`` runs under."""
    while pid > 1:
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd":
            return pid
    raise AssertionError("the command runs under no sshd")


async def test_a_killed_session_is_a_transport_error_not_an_exit_status(
    sshd: Inventory, runner: SshRunner
) -> None:
    """The host's sshd dies mid-command (chaos drill kill-sshd): the command has no exit
    status, so the read is an error naming the host, never an empty result a check would
    take for "nothing found" (dns_upstreams said "no dnsmasq runs" on one)."""
    m = marker()
    task = asyncio.ensure_future(runner.run(target(sshd), f"exec sleep {m}", timeout=20))
    await wait_running(f"^sleep {m}$")
    os.kill(_session_sshd(pids(f"^sleep {m}$")[0]), signal.SIGKILL)
    with pytest.raises(TransportError, match="target.*connection lost"):
        await task
    await wait_gone(m)
