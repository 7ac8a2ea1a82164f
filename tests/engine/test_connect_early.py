"""TCP connects started before asyncssh loads (engine/remote/connect_early.py), and the
SSH connection that then runs over them, against a real sshd (tests/sshd_fixture.py).
"""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest

from engine.errors import TransportError
from engine.remote.connect_early import (
    EarlySockets,
    early_address,
    open_early,
    open_early_from_file,
)
from engine.remote.factory import InventoryRunner
from engine.remote.inventory import Host, Inventory
from engine.remote.ssh import SshRunner
from tests.sshd_fixture import SshdServer, _free_port


def many(inv: Inventory, n: int) -> Inventory:
    """``n`` hosts, one connection each, all on the fixture's sshd (127.0.0.1 only)."""
    base = inv.host("target")
    hosts = {f"h{i}": Host(address="127.0.0.1", port=base.port) for i in range(n)}
    return Inventory(name="many", ssh=inv.ssh, hosts=hosts)


def test_only_direct_ip_hosts_are_opened_early(sshd: Inventory) -> None:
    port = sshd.host("target").port
    inv = Inventory(
        ssh=sshd.ssh,
        hosts={
            "ip": Host(address="127.0.0.1", port=port),
            "v6": Host(address="::1", port=port),
            "name": Host(address="localhost", port=port),
            "here": Host(address="127.0.0.1", transport="local"),
        },
    )
    assert early_address(inv.host("ip"), inv) == ("127.0.0.1", port)
    assert early_address(inv.host("v6"), inv) == ("::1", port)
    assert early_address(inv.host("name"), inv) is None  # a resolver could block
    assert early_address(inv.host("here"), inv) is None
    configured = inv.model_copy(update={"ssh": sshd.ssh.model_copy(update={"config": "/x"})})
    assert early_address(inv.host("ip"), configured) is None  # HostName/ProxyJump may apply


def test_open_early_stops_at_its_limit(sshd: Inventory) -> None:
    inv = many(sshd, 5)
    early = open_early(inv, inv.hosts.values(), 3)
    try:
        assert len(early) == 3
        assert early.take(("127.0.0.2", sshd.host("target").port)) is None
        sock = early.take(("127.0.0.1", sshd.host("target").port))
        assert sock is not None
        sock.close()
        assert len(early) == 2
    finally:
        early.close()
    assert len(early) == 0


async def test_hosts_connect_over_their_early_sockets(
    sshd_server: SshdServer, sshd: Inventory
) -> None:
    inv = many(sshd, 4)
    opened = open_early(inv, inv.hosts.values(), 10)
    where = ("127.0.0.1", sshd.host("target").port)
    socks = [opened.take(where) for _ in range(4)]
    assert opened.take(where) is None
    early = EarlySockets()
    for sock in socks:
        assert sock is not None
        early.add(where, sock)
    local_ports = {sock.getsockname()[1] for sock in socks if sock is not None}
    runner = InventoryRunner(inv, early)
    try:
        for name, host in inv.hosts.items():
            assert (await runner.run(host, f"echo {name}", timeout=20)).stdout == f"{name}\n"
        assert len(early) == 0  # every socket was taken and carried its host's connection
        ssh = runner.runner_for(inv.host("h0"))
        assert isinstance(ssh, SshRunner)
        used = {c.get_extra_info("sockname")[1] for c in ssh.connections.values()}
        assert used == local_ports  # the connections run over the early sockets
    finally:
        await runner.close()


async def test_a_refused_early_connect_reads_as_before(sshd: Inventory) -> None:
    inv = Inventory(ssh=sshd.ssh, hosts={"target": Host(address="127.0.0.1", port=_free_port())})
    early = open_early(inv, inv.hosts.values(), 10)
    runner = InventoryRunner(inv, early)
    try:
        with pytest.raises(TransportError) as info:
            await runner.run(inv.host("target"), "true", timeout=20)
    finally:
        await runner.close()
    text = str(info.value)
    assert text.startswith("host target: connection refused by 127.0.0.1:")
    assert "\n" not in text


async def test_known_hosts_read_once_but_again_when_it_changes(
    sshd_server: SshdServer, sshd: Inventory
) -> None:
    inv = many(sshd, 2)
    runner = SshRunner(inv)
    try:
        assert (await runner.run(inv.host("h0"), "echo ok", timeout=20)).stdout == "ok\n"
        # another key for this address: the next connection must see the change
        other = asyncssh.generate_private_key("ssh-ed25519")
        sshd_server.known_hosts.write_text(sshd_server.known_hosts_line(other))
        with pytest.raises(TransportError) as info:
            await runner.run(inv.host("h1"), "true", timeout=20)
        assert "host key verification failed" in str(info.value)
    finally:
        await runner.close()


def test_open_early_from_the_inventory_file(sshd: Inventory, tmp_path: Path) -> None:
    port = sshd.host("target").port
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        "name: t\n"
        "hosts:\n"
        f"  a: {{address: 127.0.0.1, port: {port}, roles: [compute]}}\n"
        f"  b: {{address: '::1', port: {port}, roles: [controller]}}\n"
        f"  c: {{address: localhost, port: {port}}}\n"
        "  d: {address: 127.0.0.1, transport: local}\n"
        f"  e: {{port: {port}}}\n"  # no address: left to the validated inventory
    )
    early = open_early_from_file(inv, 10)
    assert len(early) == 2  # a and b: IP addresses reached over ssh
    early.close()
    early = open_early_from_file(inv, 10, ["comp*"])  # --limit over names and roles
    assert len(early) == 1
    sock = early.take(("127.0.0.1", port))
    assert sock is not None
    sock.close()
    assert len(open_early_from_file(inv, 1)) == 1
    # what only the validated inventory can decide opens nothing
    configured = tmp_path / "configured.yaml"
    configured.write_text(inv.read_text() + "ssh: {config: /nowhere}\n")
    assert len(open_early_from_file(configured, 10)) == 0
    wrapped = tmp_path / "wrapped.yaml"
    wrapped.write_text(inv.read_text() + "ansible: {inventory: hosts.ini}\n")
    assert len(open_early_from_file(wrapped, 10)) == 0
    broken = tmp_path / "broken.yaml"
    broken.write_text("hosts: [unclosed\n")
    assert len(open_early_from_file(broken, 10)) == 0
    assert len(open_early_from_file(tmp_path / "missing.yaml", 10)) == 0
    ini = tmp_path / "hosts.ini"
    ini.write_text(f"[compute]\n127.0.0.1 ansible_port={port}\n")
    assert len(open_early_from_file(ini, 10)) == 0
