"""Parse the Linux bonding driver's status file, ``/proc/net/bonding/bond0``.

The file is a header of ``Key: value`` lines (mode, active slave, the bond's MII
status) followed by one paragraph per slave starting at ``Slave Interface:``.
802.3ad adds indented ``details actor lacp pdu:`` blocks; unknown keys are kept.

>>> st = parse_proc_bonding('''Ethernet Channel Bonding Driver: v5.10
...
... Bonding Mode: fault-tolerance (active-backup)
... Currently Active Slave: None
... MII Status: down
...
... Slave Interface: eth0
... MII Status: down
... Link Failure Count: 1
... ''', "bond0")
>>> st.mode, st.active_slave, st.mii_status, [(s.name, s.mii_status) for s in st.slaves]
('active-backup', None, 'down', [('eth0', 'down')])
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from engine.errors import CloudtalesError

# "fault-tolerance (active-backup)" -> "active-backup"; "IEEE 802.3ad Dynamic link
# aggregation" -> "802.3ad"; the driver's text for each of its seven modes
_MODES = {
    "load balancing (round-robin)": "balance-rr",
    "fault-tolerance (active-backup)": "active-backup",
    "load balancing (xor)": "balance-xor",
    "fault-tolerance (broadcast)": "broadcast",
    "ieee 802.3ad dynamic link aggregation": "802.3ad",
    "transmit load balancing": "balance-tlb",
    "adaptive load balancing": "balance-alb",
}
_LINE = re.compile(r"^([A-Za-z0-9][^:]*?):\s*(.*)$")


@dataclass(frozen=True)
class SlaveStatus:
    name: str
    mii_status: str = "unknown"  # up | down | going back | going down
    speed: str | None = None
    duplex: str | None = None
    link_failure_count: int = 0
    permanent_hwaddr: str | None = None
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def up(self) -> bool:
        return self.mii_status == "up"


@dataclass(frozen=True)
class BondStatus:
    source: str
    mode: str
    mode_text: str
    mii_status: str
    active_slave: str | None
    slaves: tuple[SlaveStatus, ...]
    driver: str | None = None
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def up(self) -> bool:
        return self.mii_status == "up"

    @property
    def slaves_up(self) -> list[str]:
        return [s.name for s in self.slaves if s.up]

    @property
    def slaves_down(self) -> list[str]:
        return [s.name for s in self.slaves if not s.up]


def _mode(text: str) -> str:
    key = text.strip().lower()
    return _MODES.get(key, key.split("(")[-1].rstrip(")") if "(" in key else key)


def _slave(name: str, fields: dict[str, str], source: str) -> SlaveStatus:
    raw = fields.get("Link Failure Count", "0")
    try:
        failures = int(raw)
    except ValueError:
        raise CloudtalesError(
            f"{source}: slave {name}: Link Failure Count {raw!r} is not a number"
        ) from None
    return SlaveStatus(
        name=name,
        mii_status=fields.get("MII Status", "unknown").lower(),
        speed=fields.get("Speed"),
        duplex=fields.get("Duplex"),
        link_failure_count=failures,
        permanent_hwaddr=fields.get("Permanent HW addr"),
        fields=dict(fields),
    )


def parse_proc_bonding(text: str, source: str = "/proc/net/bonding/bond0") -> BondStatus:
    """One bond's status; a file that is not a bonding status file is a one-line error."""
    header: dict[str, str] = {}
    slaves: list[SlaveStatus] = []
    current: tuple[str, dict[str, str]] | None = None
    driver = None
    for raw in text.splitlines():
        if not raw.strip() or raw[0] in " \t":  # blank, or an indented 802.3ad detail
            continue
        if raw.startswith("Ethernet Channel Bonding Driver"):
            driver = raw.partition(":")[2].strip() or raw.strip()
            continue
        m = _LINE.match(raw)
        if m is None:
            continue
        key, value = m.group(1).strip(), m.group(2).strip()
        if key == "Slave Interface":
            if current is not None:
                slaves.append(_slave(current[0], current[1], source))
            if not value:
                raise CloudtalesError(f"{source}: a 'Slave Interface:' line names no interface")
            current = (value, {})
        elif current is not None:
            current[1].setdefault(key, value)
        else:
            header.setdefault(key, value)
    if current is not None:
        slaves.append(_slave(current[0], current[1], source))
    if "Bonding Mode" not in header:
        raise CloudtalesError(
            f"{source}: not a bonding status file (no 'Bonding Mode:' line)"
            if text.strip()
            else f"{source}: empty (not a bonding status file)"
        )
    active = header.get("Currently Active Slave")
    return BondStatus(
        source=source,
        mode=_mode(header["Bonding Mode"]),
        mode_text=header["Bonding Mode"],
        mii_status=header.get("MII Status", "unknown").lower(),
        active_slave=None if active in (None, "", "None") else active,
        slaves=tuple(slaves),
        driver=driver,
        fields=header,
    )
