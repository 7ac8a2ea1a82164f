"""A check that times out names the host that never answered, not every host it asked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from engine.errors import CloudtalesError
from engine.executor import run_check
from engine.playbook.model import Check
from engine.remote.factory import make_runner
from engine.remote.inventory import Host, Inventory, SshSettings


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A real TCP listener that accepts and never says a word (a hung sshd)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


def _check(timeout: float) -> Check:
    return Check(
        id="link-facts",
        title="links",
        why="test",
        type="link_facts",
        hosts=["here", "stuck"],
        timeout=timeout,
        on={"stacked": "x", "single": "y"},
        fallback="inconclusive",
    )


async def test_timeout_names_only_the_host_still_reading(silent_port: int) -> None:
    inventory = Inventory(
        ssh=SshSettings(connect_timeout=60.0, known_hosts=None),
        hosts={
            "here": Host(transport="local", become="none"),
            "stuck": Host(address="127.0.0.1", port=silent_port, username="root"),
        },
    )
    runner = make_runner(inventory)
    try:
        with pytest.raises(CloudtalesError) as caught:
            await run_check(_check(1.0), runner, inventory, {})
    finally:
        await runner.close()
    err = caught.value
    assert err.host == "stuck"
    assert str(err).startswith("check link-facts timed out after 1s, waiting on stuck: ip ")
    assert err.command is not None
    assert err.command.startswith("ip ")
