"""gather_all: every read finishes, and the failure names every host that failed."""

from __future__ import annotations

import asyncio

import pytest

from engine.checks.gather import gather_all
from engine.errors import CloudtalesError, TransportError


async def ok(value: int, delay: float = 0.0) -> int:
    await asyncio.sleep(delay)
    return value


async def fails(host: str) -> int:
    raise TransportError(host, "connection refused", command="bridge -j fdb show")


async def test_results_in_order_list_or_tuple() -> None:
    assert await gather_all(ok(i) for i in range(4)) == [0, 1, 2, 3]
    assert await gather_all(ok(1), ok(2)) == (1, 2)


async def test_one_failure_is_raised_after_the_others_finished() -> None:
    slow = asyncio.ensure_future(ok(7, 0.05))
    with pytest.raises(TransportError, match="host compute: connection refused"):
        await gather_all(fails("compute"), slow)
    assert slow.done()  # not left running, its result retrieved
    assert slow.result() == 7


async def test_several_failures_name_every_host() -> None:
    with pytest.raises(CloudtalesError) as caught:
        await gather_all([fails("compute1"), ok(1), fails("compute2")])
    err = caught.value
    assert err.host == "compute1,compute2"
    assert str(err) == "host compute1: connection refused; host compute2: connection refused"
    assert err.command == "bridge -j fdb show"
