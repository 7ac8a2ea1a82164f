"""Clock sources: a host's wall clock, read between two readings of cloudtales' own.

``clock`` runs ``date +%s.%N`` on the host. The live provider brackets the read with
the observer's clock (``read_timed``), so the answer holds all three times, as NTP's
client keeps its send and receive stamps around the server's::

    sent 1764867600.123456        cloudtales' clock before the command left
    1764867600.130001             the host's clock
    received 1764867600.140789    cloudtales' clock once the answer was in

A recording keeps the three lines, so a replay judges the round trip the live read
measured (never the replay's own timing). The offset estimate is in
``engine.detectors.clock``. A clock read is now: no sosreport holds one.
"""

from __future__ import annotations

import dataclasses
import time

from engine.remote.inventory import Host
from engine.remote.runner import CommandResult, Runner
from engine.sources.registry import register
from engine.sources.spec import Source

CLOCK_COMMAND = "date +%s.%N"
SENT = "sent"
RECEIVED = "received"

register(
    Source(
        "clock",
        "The host's wall clock (date +%s.%N), between cloudtales' send and receive times",
        live=lambda _p: CLOCK_COMMAND,
        offline=False,
        sos_note="a clock is read now: no sosreport holds one",
        parser="engine.detectors.clock.parse_clock",
    )
)
TIMED_SOURCES = frozenset({"clock"})
"""Sources whose live answer carries the observer's send and receive times."""


async def read_timed(runner: Runner, host: Host, command: str, timeout: float) -> CommandResult:
    """Run ``command`` with cloudtales' clock read just before and just after."""
    sent = time.time()
    res = await runner.run(host, command, timeout=timeout)
    received = time.time()
    body = res.stdout if res.stdout.endswith("\n") or not res.stdout else res.stdout + "\n"
    stdout = f"{SENT} {sent:.6f}\n{body}{RECEIVED} {received:.6f}\n"
    return dataclasses.replace(res, stdout=stdout)
