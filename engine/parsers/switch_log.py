"""Parse switch syslog lines (Arista EOS, Cisco IOS/IOS-XE, NX-OS) into events.

Every vendor writes ``%FACILITY-SEVERITY-MNEMONIC: text``; what comes before it
(timestamps, host name, process) varies and is read best effort. The events this
module names are the ones a port shutdown story needs: BPDU guard blocking a port,
err-disable (with its cause), line protocol up/down and err-disable recovery.

>>> ev = parse_switch_log(
...     "Feb 15 01:40:18 SW-1 Stp: %SPANTREE-4-BLOCK_BPDUGUARD: Received BPDU packet on "
...     "Port-Channel35 with BPDU guard enabled. Disabling interface. "
...     "(source mac fa:16:3e:24:e7:22)")[0]
>>> ev.kind, ev.host, ev.interface, ev.source_mac, ev.stamp
('bpduguard', 'SW-1', 'Port-Channel35', 'fa:16:3e:24:e7:22', 'Feb 15 01:40:18')
>>> ev = parse_switch_log("%PM-4-ERR_DISABLE: bpduguard error detected on Gi1/0/1, "
...                       "putting Gi1/0/1 in err-disable state")[0]
>>> ev.kind, ev.interface, ev.cause
('errdisable', 'Gi1/0/1', 'bpduguard')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LINE = 4096  # longer "lines" are not syslog: cut before matching

_MSG = re.compile(r"%([A-Z][A-Z0-9_]*)-(\d)-([A-Z][A-Z0-9_]*)\s*:\s*(.*)$")
_STAMP = re.compile(
    r"(?P<stamp>(?:[A-Z][a-z]{2}\s+\d{1,2}\s+(?:\d{4}\s+)?\d{2}:\d{2}:\d{2}(?:\.\d+)?)"
    r"|(?:\d{4}\s+[A-Z][a-z]{2}\s+\d{1,2}\s+\d{2}:\d{2}:\d{2}(?:\.\d+)?)"
    r"|(?:\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?))"
)
# "<host> <Process>:" right after the leading syslog timestamp (EOS: "SW-1 Stp:")
_HOST = re.compile(
    r"^\s*(?P<host>[A-Za-z][A-Za-z0-9._-]*)\s*(?:\s[A-Za-z][\w-]*(?:\[\d+\])?:|\s\d+:)?\s*"
    r"(?:$|\*|[A-Z][a-z]{2}\s)"
)
_IFACE = r"([A-Za-z][A-Za-z0-9\-_/:.]*[0-9])"
_BPDUGUARD_IF = re.compile(
    rf"(?:on|from)\s+(?:port\s+|interface\s+|Interface\s+)?{_IFACE}[.,]?\s+with", re.I
)
_ERRDIS = re.compile(rf"(\w[\w-]*)\s+error detected on\s+{_IFACE}[.,]?", re.I)
_ERRDIS_NXOS = re.compile(
    rf"Interface\s+{_IFACE}\s+is down \(Error ?disabled\.?\s*Reason:\s*([\w-]+)", re.I
)
_RECOVER = re.compile(
    rf"recover\w*\s+from\s+([\w-]+)\s+err-?disable\w*\s+state\s+on\s+{_IFACE}", re.I
)
_UPDOWN = re.compile(
    rf"Interface\s+{_IFACE}(?:\s*\([^)]*\))?,?\s+changed state to\s+"
    r"(up|down|administratively down)",
    re.I,
)
_MAC = re.compile(
    r"source mac(?:\s+address)?\s+"
    r"([0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}|[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4})",
    re.I,
)


@dataclass(frozen=True)
class SwitchEvent:
    line_no: int
    raw: str
    facility: str
    severity: int
    mnemonic: str
    message: str
    kind: str  # bpduguard | errdisable | recovery | link_down | link_up | other
    stamp: str | None = None
    host: str | None = None
    interface: str | None = None
    cause: str | None = None  # err-disable cause: bpduguard, link-flap, udld...
    source_mac: str | None = None

    @property
    def tag(self) -> str:
        return f"%{self.facility}-{self.severity}-{self.mnemonic}"


def normalize_mac(text: str) -> str:
    """``fa16.3e24.e722`` or ``FA:16:3E:24:E7:22`` -> ``fa:16:3e:24:e7:22``."""
    digits = re.sub(r"[^0-9a-fA-F]", "", text).lower()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2)) if len(digits) == 12 else text


def _classify(mnemonic: str, message: str) -> tuple[str, str | None, str | None, str | None]:
    """kind, interface, cause, source MAC of one message."""
    mac_m = _MAC.search(message)
    mac = normalize_mac(mac_m.group(1)) if mac_m else None
    if "BPDUGUARD" in mnemonic:
        m = _BPDUGUARD_IF.search(message)
        return "bpduguard", m.group(1) if m else None, "bpduguard", mac
    if "RECOVER" in mnemonic:
        m = _RECOVER.search(message)
        return "recovery", m.group(2) if m else None, m.group(1).lower() if m else None, mac
    if "ERR" in mnemonic and "DISABLE" in mnemonic:
        m = _ERRDIS.search(message)
        if m:
            return "errdisable", m.group(2), m.group(1).lower(), mac
        m = _ERRDIS_NXOS.search(message)
        if m:
            return "errdisable", m.group(1), m.group(2).lower(), mac
        return "errdisable", None, None, mac
    if "UPDOWN" in mnemonic or mnemonic in ("IF_DOWN_LINK_FAILURE", "IF_UP"):
        m = _UPDOWN.search(message)
        if m:
            state = m.group(2).lower()
            return ("link_up" if state == "up" else "link_down"), m.group(1), None, mac
    return "other", None, None, mac


def parse_line(line: str, line_no: int = 0) -> SwitchEvent | None:
    """One event, or None for a line without a ``%FAC-SEV-MNEMONIC:`` message."""
    text = line[:MAX_LINE].rstrip("\r\n")
    m = _MSG.search(text)
    if m is None:
        return None
    facility, severity, mnemonic, message = m.group(1), int(m.group(2)), m.group(3), m.group(4)
    prefix = text[: m.start()]
    stamp_m = _STAMP.search(prefix)
    host = None
    if stamp_m:
        host_m = _HOST.match(prefix[stamp_m.end() :])
        host = host_m.group("host") if host_m else None
    kind, iface, cause, mac = _classify(mnemonic, message)
    return SwitchEvent(
        line_no=line_no,
        raw=text,
        facility=facility,
        severity=severity,
        mnemonic=mnemonic,
        message=message,
        kind=kind,
        stamp=" ".join(stamp_m.group("stamp").split()) if stamp_m else None,
        host=host,
        interface=iface,
        cause=cause,
        source_mac=mac,
    )


def parse_switch_log(text: str, first_line_no: int = 1) -> list[SwitchEvent]:
    """Every ``%...`` message of a log, in order; other lines are skipped."""
    events = []
    for n, line in enumerate(text.splitlines(), first_line_no):
        ev = parse_line(line, n)
        if ev is not None:
            events.append(ev)
    return events
