"""SshRunner within a file-descriptor budget: more hosts than ``max_connections``.

Real sshd (tests/sshd_fixture.py); every host is a different name for the same sshd, so
each gets its own connection.
"""

from __future__ import annotations

import asyncio

from engine.remote.connect_early import connection_budget
from engine.remote.inventory import Host, Inventory
from engine.remote.ssh import SshRunner


def many(inv: Inventory, n: int) -> Inventory:
    base = inv.host("target")
    hosts = {f"h{i:02d}": Host(address=base.address, port=base.port) for i in range(n)}
    return Inventory(name="many", ssh=inv.ssh, hosts=hosts)


async def test_more_hosts_than_connections_all_answer(sshd: Inventory) -> None:
    inv = many(sshd, 7)
    runner = SshRunner(inv, max_connections=3)
    try:
        results = await asyncio.gather(
            *(runner.run(h, f"echo {h.name}", timeout=20) for h in inv.hosts.values())
        )
        assert [r.stdout for r in results] == [f"{name}\n" for name in inv.hosts]
        assert len(runner.connections) <= 3
        # a host whose connection was closed as idle reconnects on its next command
        again = await runner.run(inv.host("h00"), "echo again", timeout=20)
        assert again.stdout == "again\n"
        assert len(runner.connections) <= 3
    finally:
        await runner.close()


async def test_a_connection_handed_out_is_never_closed_as_idle(sshd: Inventory) -> None:
    inv = many(sshd, 4)
    runner = SshRunner(inv, max_connections=2)
    try:
        held = await runner.connection(inv.host("h00"))  # e.g. for a port forward
        for name in ("h01", "h02", "h03"):
            assert (await runner.run(inv.host(name), "echo ok", timeout=20)).stdout == "ok\n"
        assert not held.is_closed()
        assert "h00|" in "".join(runner.connections)
    finally:
        await runner.close()


def test_the_default_budget_follows_the_open_file_limit() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert connection_budget() == max(1, soft - 64)
    assert SshRunner(Inventory(hosts={})).max_connections == connection_budget()
