"""``make_runner``: one runner for a whole inventory, dispatching on ``host.transport``."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING

from engine.remote.connect_early import EarlySockets
from engine.remote.inventory import Host, Inventory
from engine.remote.local import LocalRunner
from engine.remote.runner import CommandResult, Runner

if TYPE_CHECKING:  # asyncssh (about 0.1 s of imports) loads with the first ssh host
    from engine.remote.ssh import SshRunner


class InventoryRunner:
    """``ssh`` hosts go to one shared ``SshRunner``, ``local`` hosts to a ``LocalRunner``.

    Both are created on first use, so an all-local inventory never imports a key.
    ``early``: TCP connections already started (``connect_early.open_early``)."""

    def __init__(self, inventory: Inventory, early: EarlySockets | None = None) -> None:
        self.inventory = inventory
        self._early = early
        self._ssh: SshRunner | None = None
        self._local: LocalRunner | None = None

    def runner_for(self, host: Host) -> Runner:
        if host.transport == "local":
            if self._local is None:
                self._local = LocalRunner()
            return self._local
        if self._ssh is None:
            from engine.remote.ssh import SshRunner

            self._ssh = SshRunner(self.inventory, early=self._early)
        return self._ssh

    async def run(self, host: Host, command: str, timeout: float = 30.0) -> CommandResult:
        return await self.runner_for(host).run(host, command, timeout)

    async def run_short(self, host: Host, command: str, timeout: float = 30.0) -> CommandResult:
        """A command that ends by itself at once (``SshRunner.run_short``)."""
        if host.transport == "local":
            return await self.runner_for(host).run(host, command, timeout)
        self.runner_for(host)
        assert self._ssh is not None
        return await self._ssh.run_short(host, command, timeout)

    def stream_lines(
        self, host: Host, command: str, timeout: float = 60.0
    ) -> AsyncGenerator[str, None]:
        return self.runner_for(host).stream_lines(host, command, timeout)

    def stream_bytes(
        self,
        host: Host,
        command: str,
        timeout: float = 60.0,
        on_stderr: Callable[[str], None] | None = None,
    ) -> AsyncGenerator[bytes, None]:
        return self.runner_for(host).stream_bytes(host, command, timeout, on_stderr)

    async def close(self) -> None:
        for runner in (self._ssh, self._local):
            if runner is not None:
                await runner.close()
        if self._early is not None:
            self._early.close()


def make_runner(inventory: Inventory) -> Runner:
    """The inventory's runner; hosts that do not log in as root get ``sudo -n``."""
    from engine.privilege import with_privilege

    return with_privilege(InventoryRunner(inventory), inventory)
