"""A read that failed is the check's error naming the host, never a negative finding.

Seen in a chaos drill (kill-sshd on the dns lab's controller as dn-upstreams started):
the ``dnsmasq_processes`` read came back without an exit status and empty, and
dns_upstreams said "no dnsmasq runs on controller" (outcome no_dnsmasq). The three
checks that list dnsmasq processes must raise instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest

from engine.checks.base import CheckContext, CheckParams
from engine.checks.registry import get_check_type
from engine.errors import CloudtalesError
from engine.remote.inventory import load_inventory
from engine.remote.runner import CommandResult
from engine.sources import registry

INVENTORY = Path(__file__).parents[1] / "rehearsals" / "dns-faulty" / "inventory.yaml"


class BrokenReads:
    """Every read ends as a command does when its session dies, or sudo refuses."""

    def __init__(self, exit_status: int, stderr: str) -> None:
        self.exit_status, self.stderr = exit_status, stderr

    def command(self, name: str, **params: Any) -> str:
        return registry.get(name).command(params)

    async def read(self, host: Any, name: str, timeout: float = 30.0, **params: Any) -> Any:
        return CommandResult(
            host.name, self.command(name, **params), self.exit_status, "", self.stderr
        )


async def _run(aw: Awaitable[object]) -> object:
    return await aw


@pytest.mark.parametrize("check", ["dns_upstreams", "dhcp_lease_time", "dhcp_mtu_option"])
@pytest.mark.parametrize(
    ("status", "stderr"), [(-1, ""), (1, "sudo: a password is required")], ids=["lost", "sudo"]
)
def test_a_failed_dnsmasq_listing_is_an_error_on_the_host(
    check: str, status: int, stderr: str
) -> None:
    inv = load_inventory(INVENTORY)
    host = inv.host("controller")
    provider: Any = BrokenReads(status, stderr)
    ctx = CheckContext(None, inv, [host], {}, 20.0, provider=provider)  # type: ignore[arg-type]
    ctype = get_check_type(check)
    params: CheckParams = ctype.params.model_validate({})
    with pytest.raises(CloudtalesError, match="^host controller: `.*` failed") as err:
        asyncio.run(_run(ctype.run(ctx, params)))
    assert err.value.host == "controller"
    assert "dnsmasq" in (err.value.command or "")
