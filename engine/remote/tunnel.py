"""Reaching a service the way a host sees it: an SSH local port forward on the runner's
own connection to that host.

nova.conf names its database as the controller sees it (often ``127.0.0.1``), so a
check connects to the controller over SSH and asks sshd to open the connection from
there (``direct-tcpip``, what ``ssh -L`` does); a ``transport: local`` host needs no
tunnel. Runners wrap one another (``InventoryRunner`` dispatches per host, a
``RecordingRunner`` wraps the real one), so ``live_runner`` unwraps them to find the
transport that really reaches the host; a ``ReplayRunner`` reaches nothing, and
callers fall back to recorded answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncssh

from engine.errors import TransportError
from engine.remote.factory import InventoryRunner
from engine.remote.inventory import Host
from engine.remote.local import LocalRunner
from engine.remote.recorder import RecordingRunner
from engine.remote.runner import Runner
from engine.remote.ssh import SshRunner, host_label

Transport = SshRunner | LocalRunner
_MAX_WRAPPERS = 8


def _unwrap(runner: Runner, host: Host) -> list[Runner]:
    """``runner`` and every runner it delegates ``host``'s commands to, outermost first:
    ``InventoryRunner`` picks one per host, wrappers (``RecordingRunner``, the ``sudo``
    ``PrivilegedRunner``) hold theirs in ``inner``."""
    chain: list[Runner] = [runner]
    current: Runner = runner
    for _ in range(_MAX_WRAPPERS):
        if isinstance(current, InventoryRunner):
            current = current.runner_for(host)
        elif isinstance(getattr(current, "inner", None), Runner):
            current = current.inner  # type: ignore[attr-defined]
        else:
            break
        chain.append(current)
    return chain


def transport_of(runner: Runner, host: Host) -> Transport | None:
    """The transport that really reaches ``host`` (None when the answers are replayed)."""
    found = _unwrap(runner, host)[-1]
    return found if isinstance(found, SshRunner | LocalRunner) else None


def live_runner(runner: Runner, host: Host) -> Runner | None:
    """A runner for commands on ``host`` that records nothing: ``runner`` without the
    ``RecordingRunner`` layers (``sudo`` wrapping stays). None when replaying."""
    chain = _unwrap(runner, host)
    if not isinstance(chain[-1], SshRunner | LocalRunner):
        return None
    last_recorder = max(
        (i for i, r in enumerate(chain) if isinstance(r, RecordingRunner)), default=-1
    )
    return chain[last_recorder + 1]


def recorder_of(runner: Runner, host: Host) -> RecordingRunner | None:
    """The ``RecordingRunner`` in ``runner``'s chain for ``host``, if a session is recorded."""
    return next((r for r in _unwrap(runner, host) if isinstance(r, RecordingRunner)), None)


@dataclass(frozen=True)
class Endpoint:
    """Where to connect from this machine: a TCP address, or a unix socket path."""

    host: str | None = None
    port: int | None = None
    path: str | None = None


@contextlib.asynccontextmanager
async def forward(
    runner: Runner,
    host: Host,
    dest_host: str,
    dest_port: int,
    dest_path: str | None = None,
    timeout: float = 10.0,
) -> AsyncIterator[Endpoint]:
    """A local endpoint leading to ``dest_host:dest_port`` (or the unix socket
    ``dest_path``, which then wins) as ``host`` sees it, for the duration of the block.

    Over SSH: first a probe channel, so an unreachable service is a one-line
    ``TransportError`` with sshd's reason (a forward would only drop the client's
    connection); then ``forward_local_port`` on 127.0.0.1 and an ephemeral port, closed
    when the block ends.
    """
    where = dest_path or f"{dest_host}:{dest_port}"
    live = transport_of(runner, host)
    label = host_label(host)
    if isinstance(live, LocalRunner):
        yield Endpoint(dest_host, dest_port, dest_path)
        return
    if live is None:
        raise TransportError(label, f"cannot reach {where}: this session has no live transport")
    conn = await live.connection(host)
    try:
        async with asyncio.timeout(timeout):
            if dest_path:
                _, writer = await conn.open_unix_connection(dest_path)
            else:
                _, writer = await conn.open_connection(dest_host, dest_port)
        writer.close()
        if dest_path:
            listener = await conn.forward_local_port_to_path("127.0.0.1", 0, dest_path)
        else:
            listener = await conn.forward_local_port("127.0.0.1", 0, dest_host, dest_port)
    except asyncssh.ChannelOpenError as exc:
        raise TransportError(label, f"cannot reach {where} from {label}: {exc.reason}") from None
    except TimeoutError:
        raise TransportError(
            label, f"cannot reach {where} from {label}: no answer in {timeout:g}s"
        ) from None
    except (asyncssh.Error, OSError) as exc:
        raise TransportError(label, f"cannot forward to {where}: {exc}") from None
    try:
        yield Endpoint("127.0.0.1", listener.get_port())
    finally:
        listener.close()
        with contextlib.suppress(Exception):
            await listener.wait_closed()
