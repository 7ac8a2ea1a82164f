"""dnsmasq's DHCP settings from its configuration files and its command line.

Both use the same option names (``dhcp-range=...`` in a file, ``--dhcp-range=...``
or ``-F ...`` on the command line). nova-network passed the lease time on the command
line (``--dhcp-range=set:private,10.0.0.2,static,255.255.255.0,120s``) and extra
options through ``--conf-file``, so a check reads both.

Lease rules, as dnsmasq applies them: no lease time in a range means one hour;
``infinite`` means no expiry (-1 here); anything under two minutes is served as two
minutes (dnsmasq's documented minimum: a ``20s`` range is answered with a 120 s
lease, measured with dnsmasq 2.90). T1 (renewal) defaults to half the lease unless
``dhcp-option=option:T1,...`` sets it.

>>> cfg = parse_dnsmasq_args(["dnsmasq", "--dhcp-range=set:private,10.0.0.2,static,"
...     "255.255.255.0,120s", "--conf-file=/etc/nova/dnsmasq-nova.conf"], "cmdline")
>>> cfg.lease_seconds(), cfg.renewal_seconds(), cfg.conf_files
(120, 60, ['/etc/nova/dnsmasq-nova.conf'])
>>> parse_dnsmasq_conf("dhcp-range=10.0.0.10,10.0.0.50,20s\\n", "f").lease_seconds()
120
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

DEFAULT_LEASE = 3600
MIN_LEASE = 120
INFINITE = -1
_TIME = re.compile(r"^(\d+)([smhdw]?)$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SHORT = {"-F": "dhcp-range", "-O": "dhcp-option", "-C": "conf-file"}
_TAGS = ("tag:", "set:", "net:", "encap:", "vi-encap:", "vendor:")
_T1, _T2 = 58, 59
_OPTION_NAMES = {"t1": _T1, "t2": _T2, "renewal-time": _T1, "rebinding-time": _T2}


def parse_time(text: str) -> int | None:
    """``120s``, ``2m``, ``1h``, ``3d``, ``1w``, ``3600`` -> seconds; ``infinite`` -> -1;
    anything else -> None."""
    text = text.strip()
    if text.lower() == "infinite":
        return INFINITE
    m = _TIME.match(text)
    return int(m.group(1)) * _UNITS[m.group(2).lower()] if m else None


@dataclass(frozen=True)
class DhcpRange:
    text: str  # the option value as written
    source: str  # file:line or "cmdline"
    lease: int | None  # as written: None when absent (dnsmasq then uses one hour)
    ipv6: bool = False

    @property
    def effective_lease(self) -> int:
        """What dnsmasq grants: the default, or the value raised to the two-minute floor."""
        if self.lease is None:
            return DEFAULT_LEASE
        if self.lease == INFINITE:
            return INFINITE
        return max(self.lease, MIN_LEASE)


@dataclass
class DnsmasqConfig:
    ranges: list[DhcpRange] = field(default_factory=list)
    t1: int | None = None
    t2: int | None = None
    conf_files: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (source, line) worth showing

    def lease_seconds(self) -> int | None:
        """The shortest IPv4 lease any range grants (-1 if all are infinite)."""
        leases = [r.effective_lease for r in self.ranges if not r.ipv6]
        finite = [x for x in leases if x != INFINITE]
        if finite:
            return min(finite)
        return INFINITE if leases else None

    def renewal_seconds(self) -> int | None:
        lease = self.lease_seconds()
        if lease is None or lease == INFINITE:
            return None
        return self.t1 if self.t1 is not None else lease // 2

    def merge(self, other: DnsmasqConfig) -> DnsmasqConfig:
        return DnsmasqConfig(
            self.ranges + other.ranges,
            other.t1 if other.t1 is not None else self.t1,
            other.t2 if other.t2 is not None else self.t2,
            self.conf_files + [c for c in other.conf_files if c not in self.conf_files],
            self.sources + other.sources,
            self.notes + other.notes,
        )


def _strip_tags(fields: list[str]) -> list[str]:
    while fields and fields[0].strip().lower().startswith(_TAGS):
        fields = fields[1:]
    return fields


def _range(value: str, source: str) -> DhcpRange:
    fields = _strip_tags(value.split(","))
    ipv6 = bool(fields) and ":" in fields[0]
    lease = parse_time(fields[-1]) if len(fields) >= 2 else None
    return DhcpRange(value, source, lease, ipv6)


def _option(cfg: DnsmasqConfig, value: str, source: str) -> None:
    fields = _strip_tags(value.split(","))
    if len(fields) < 2:
        return
    spec = fields[0].strip().lower()
    name = spec.removeprefix("option:")
    code = int(name) if name.isdigit() else _OPTION_NAMES.get(name)
    seconds = parse_time(fields[1])
    if code == _T1 and seconds is not None:
        cfg.t1 = seconds
        cfg.notes.append((source, f"dhcp-option={value}"))
    elif code == _T2 and seconds is not None:
        cfg.t2 = seconds
        cfg.notes.append((source, f"dhcp-option={value}"))


def _apply(cfg: DnsmasqConfig, key: str, value: str, source: str) -> None:
    if key == "dhcp-range" and value:
        cfg.ranges.append(_range(value, source))
    elif key in ("dhcp-option", "dhcp-option-force"):
        _option(cfg, value, source)
    elif key == "conf-file" and value:
        cfg.conf_files.append(value)
    elif key in ("dhcp-lease-max", "dhcp-hostsfile", "dhcp-authoritative", "leasefile-ro"):
        cfg.notes.append((source, f"{key}={value}" if value else key))


def parse_dnsmasq_conf(text: str, source: str) -> DnsmasqConfig:
    """A dnsmasq configuration file (``key=value`` lines, ``#`` comments). Lines that
    do not parse are skipped: dnsmasq itself would refuse to start on them."""
    cfg = DnsmasqConfig(sources=[source])
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        _apply(cfg, key.strip().lower(), value.strip(), f"{source}:{n}")
    return cfg


def parse_dnsmasq_args(argv: Sequence[str], source: str) -> DnsmasqConfig:
    """A dnsmasq command line (``argv[0]`` is the program)."""
    cfg = DnsmasqConfig(sources=[source])
    args = list(argv[1:])
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg.startswith("--"):
            key, _, value = arg[2:].partition("=")
        elif arg[:2] in _SHORT:
            key = _SHORT[arg[:2]]
            value = arg[2:]
            if not value and i < len(args):
                value, i = args[i], i + 1
        else:
            continue
        _apply(cfg, key.lower(), value, source)
    return cfg


def merge_all(configs: Iterable[DnsmasqConfig]) -> DnsmasqConfig:
    result = DnsmasqConfig()
    for cfg in configs:
        result = result.merge(cfg)
    return result
