"""Clock offset between a compute and the controller, estimated like NTP's client does.

Each ``clock`` answer (``engine/sources/clock.py``) holds cloudtales' send time t0, the
host's clock t and cloudtales' receive time t1. The host's offset from cloudtales is
``t - (t0 + t1) / 2``, wrong by at most half the round trip ``(t1 - t0) / 2`` (the
answer was read somewhere in between). Of several reads the one with the shortest round
trip is kept (the first may include an SSH handshake). The compute's offset from the
controller is the difference of the two offsets; its bound is the sum of the two bounds.

Outcomes against nova's ``service_down_time`` (from the controller's nova.conf, else
nova's default of 60 s, said as an assumption):

- ``skewed``: the offset is beyond it even at the bound's most favourable end;
- ``in_sync``: within it even at the bound's least favourable end;
- ``uncertain``: the bound straddles it (a round trip too slow to tell).

>>> s = parse_clock("sent 100.0\\n160.5\\nreceived 101.0\\n", "compute-2")
>>> (s.offset, s.bound)
(60.0, 0.5)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.errors import CloudtalesError
from engine.results import CheckResult, Evidence, FactValue

CLOCK_OUTCOMES = ("in_sync", "skewed", "uncertain")
DEFAULT_SERVICE_DOWN_TIME = 60  # nova.conf [DEFAULT] service_down_time's default


@dataclass(frozen=True)
class ClockSample:
    host: str
    sent: float  # cloudtales' clock, s since the epoch
    remote: float  # the host's clock
    received: float

    @property
    def rtt(self) -> float:
        return self.received - self.sent

    @property
    def offset(self) -> float:
        """The host's clock minus cloudtales' at the same moment."""
        return self.remote - (self.sent + self.received) / 2

    @property
    def bound(self) -> float:
        return self.rtt / 2


@dataclass(frozen=True)
class ServiceDownTime:
    seconds: int
    source: str  # "controller:/etc/nova/nova.conf", or why the default is assumed
    assumed: bool = False

    def said(self) -> str:
        if self.assumed:
            return f"{self.seconds} s (nova's default, assumed: {self.source})"
        return f"{self.seconds} s (service_down_time in {self.source})"


def parse_clock(stdout: str, host: str) -> ClockSample:
    """The three lines of a ``clock`` answer; anything else is one line naming the host."""
    values: dict[str, float] = {}
    for line in stdout.splitlines():
        words = line.split()
        try:
            if len(words) == 2 and words[0] in ("sent", "received"):
                values[words[0]] = float(words[1])
            elif len(words) == 1:
                values["remote"] = float(words[0])
        except ValueError:
            break
    if set(values) != {"sent", "remote", "received"}:
        raise CloudtalesError(
            f"host {host}: clock answer is not 'sent T0 / T / received T1': {stdout[:120]!r}",
            host=host,
        )
    sample = ClockSample(host, values["sent"], values["remote"], values["received"])
    if sample.rtt < 0:
        raise CloudtalesError(f"host {host}: clock answer received before it was sent")
    return sample


def best(samples: Sequence[ClockSample]) -> ClockSample:
    """The read with the shortest round trip (the tightest bound)."""
    if not samples:
        raise CloudtalesError("no clock reads to judge")
    return min(samples, key=lambda s: s.rtt)


def _signed(seconds: float) -> str:
    return f"{seconds:+.3f} s"


def judge_clock(
    host_samples: Sequence[ClockSample],
    ref_samples: Sequence[ClockSample],
    down_time: ServiceDownTime,
) -> CheckResult:
    h, r = best(host_samples), best(ref_samples)
    offset = h.offset - r.offset
    bound = h.bound + r.bound
    limit = float(down_time.seconds)
    if abs(offset) - bound > limit:
        outcome = "skewed"
    elif abs(offset) + bound <= limit:
        outcome = "in_sync"
    else:
        outcome = "uncertain"
    side = "ahead of" if offset > 0 else "behind"
    measured = f"{h.host}'s clock is {abs(offset):.3f} s {side} {r.host}'s (+/- {bound:.3f} s)"
    verdict = {
        "skewed": "beyond",
        "in_sync": "within",
        "uncertain": "too close to tell against",
    }[outcome]
    summary = f"{measured}: {verdict} service_down_time {down_time.said()}"
    lines = [
        f"{s.host}: sent {s.sent:.6f}, host clock {s.remote:.6f}, received {s.received:.6f}"
        f" -> offset {_signed(s.offset)} +/- {s.bound:.3f} s"
        + ("  (kept: shortest round trip)" if s is h or s is r else "")
        for s in (*ref_samples, *host_samples)
    ]
    lines.append(f"{h.host} - {r.host}: {_signed(offset)} +/- {bound:.3f} s")
    facts: dict[str, FactValue] = {
        "host": h.host,
        "reference": r.host,
        "offset": f"{_signed(offset)} (+/- {bound:.3f} s)",
        "offset_seconds": round(offset, 3),
        "bound_seconds": round(bound, 3),
        "service_down_time": down_time.seconds,
        "service_down_time_from": down_time.said(),
    }
    evidence = (Evidence("clock reads (cloudtales' send and receive times)", "\n".join(lines)),)
    return CheckResult(outcome, summary, facts, evidence)


def service_down_time(value: str | None, where: str) -> ServiceDownTime:
    """nova.conf's ``[DEFAULT] service_down_time``, or the default when it is unset."""
    if value is None or not value.strip():
        return ServiceDownTime(DEFAULT_SERVICE_DOWN_TIME, f"not set in {where}", assumed=True)
    try:
        seconds = int(value)
    except ValueError:
        raise CloudtalesError(f"{where}: service_down_time {value!r} is not a number") from None
    if seconds <= 0:
        raise CloudtalesError(f"{where}: service_down_time {seconds} is not positive")
    return ServiceDownTime(seconds, where)
