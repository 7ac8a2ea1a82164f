"""Parsers for ``iptables-save -c`` (rules with counters) and ``conntrack -L``.

>>> rules = parse_iptables_save('*filter\\n[3:180] -A fb -m comment --comment "x y" -j DROP\\n')
>>> (rules[0].table, rules[0].chain, rules[0].packets, rules[0].target)
('filter', 'fb', 3, 'DROP')
>>> flows = parse_conntrack("tcp 6 115 SYN_SENT src=1.2.3.4 dst=10.0.0.5 sport=4 dport=22 "
...                         "[UNREPLIED] src=10.0.0.5 dst=1.2.3.4 sport=22 dport=4 mark=0 use=1")
>>> (flows[0].state, flows[0].dst, flows[0].dport, flows[0].unreplied)
('SYN_SENT', '10.0.0.5', 22, True)
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

COUNTED = re.compile(r"^\[(\d+):(\d+)\]\s+(-A\s+.*)$")


@dataclass(frozen=True)
class Rule:
    table: str
    chain: str
    packets: int | None  # None: saved without counters
    bytes: int | None
    spec: str  # the rule after "-A CHAIN"
    target: str  # after -j ("" if none)
    line: str  # as iptables-save printed it

    def option(self, name: str) -> str | None:
        """The value of ``--name`` (or ``-p``...) in the rule, if present."""
        words = _words(self.spec)
        for i, w in enumerate(words[:-1]):
            if w == name:
                return words[i + 1]
        return None

    def has(self, word: str) -> bool:
        return word in _words(self.spec)


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def parse_iptables_save(text: str) -> list[Rule]:
    rules: list[Rule] = []
    table = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:]
            continue
        packets = nbytes = None
        m = COUNTED.match(line)
        if m:
            packets, nbytes, line = int(m.group(1)), int(m.group(2)), m.group(3)
        if not line.startswith("-A "):
            continue
        words = _words(line)
        if len(words) < 2:
            continue
        chain = words[1]
        spec = line.split(None, 2)[2] if len(line.split(None, 2)) > 2 else ""
        target = ""
        if "-j" in words[2:]:
            idx = words.index("-j", 2)
            target = words[idx + 1] if idx + 1 < len(words) else ""
        rules.append(Rule(table, chain, packets, nbytes, spec, target, raw.strip()))
    return rules


@dataclass(frozen=True)
class Flow:
    proto: str
    state: str  # "" for protocols without one
    src: str
    dst: str
    sport: int | None
    dport: int | None
    unreplied: bool
    line: str


def parse_conntrack(text: str) -> list[Flow]:
    """``conntrack -L`` lines; the original direction's tuple only."""
    flows: list[Flow] = []
    for raw in text.splitlines():
        words = raw.split()
        if len(words) < 4 or "=" in words[0] or words[0].startswith("conntrack"):
            continue
        keys: dict[str, str] = {}
        state = ""
        for w in words[1:]:
            if "=" in w:
                k, _, v = w.partition("=")
                keys.setdefault(k, v)  # the first (original) src/dst/sport/dport
            elif w.isupper() and not w.startswith("["):
                state = state or w
        if "src" not in keys:
            continue
        flows.append(
            Flow(
                proto=words[0],
                state=state,
                src=keys.get("src", ""),
                dst=keys.get("dst", ""),
                sport=int(keys["sport"]) if keys.get("sport", "").isdigit() else None,
                dport=int(keys["dport"]) if keys.get("dport", "").isdigit() else None,
                unreplied="[UNREPLIED]" in words,
                line=raw.strip(),
            )
        )
    return flows
