"""Parse the path-MTU sweep: one ``SIZE ok|fail`` line per ``ping -M do -s SIZE`` probe.

>>> parse_sweep(["1472 fail", "736 ok", "1104 ok", "1468 ok", "1470 fail"])
Sweep(probes=((1472, False), (736, True), (1104, True), (1468, True), (1470, False)))
>>> parse_sweep(["1472 fail", "1468 ok"]).max_ok
1468
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ICMP_IP_OVERHEAD = 28  # 20 bytes IPv4 + 8 bytes ICMP


@dataclass(frozen=True)
class Sweep:
    probes: tuple[tuple[int, bool], ...]

    @property
    def max_ok(self) -> int | None:
        ok = [size for size, good in self.probes if good]
        return max(ok) if ok else None

    @property
    def path_mtu(self) -> int | None:
        m = self.max_ok
        return None if m is None else m + ICMP_IP_OVERHEAD


def parse_probe_line(line: str) -> tuple[int, bool] | None:
    parts = line.split()
    if len(parts) != 2 or not parts[0].isdigit() or parts[1] not in ("ok", "fail"):
        return None
    return int(parts[0]), parts[1] == "ok"


def parse_sweep(lines: Iterable[str]) -> Sweep:
    probes = tuple(p for p in (parse_probe_line(line) for line in lines) if p is not None)
    return Sweep(probes)


def sweep_script(target: str, max_payload: int, count: int = 1, wait: float = 1.0) -> str:
    """A POSIX shell binary search, run as one remote command (one round trip per sweep)."""
    ping = f"ping -n -M do -c {count} -W {wait:g} -s"
    return (
        f"t={_quote(target)}; lo=0; hi={max_payload}; "
        f'if {ping} $hi "$t" >/dev/null 2>&1; then echo "$hi ok"; exit 0; fi; echo "$hi fail"; '
        f'if ! {ping} $lo "$t" >/dev/null 2>&1; then echo "$lo fail"; exit 0; fi; echo "$lo ok"; '
        f"while [ $((hi-lo)) -gt 1 ]; do m=$(((lo+hi)/2)); "
        f'if {ping} $m "$t" >/dev/null 2>&1; then echo "$m ok"; lo=$m; '
        f'else echo "$m fail"; hi=$m; fi; done'
    )


def _quote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"
