"""What a diagnosis needs before it may be named: requirements over observed facts.

A diagnosis lists the facts and outcomes it requires (hotsos' ``decision``, insights-core's
"all of these, or at least one of those")::

    requires:
      - nova-vlan-interface.outcome=is_vlan_device
      - capture-path.first_stacking_hop
    or_requires:                       # another complete set that also suffices
      - [nova-vlan-interface.outcome=is_vlan_device, pmtu-outside-instance.outcome=reduced]

A requirement is ``FACT`` (observed at all), ``FACT=A|B`` (one of these values),
``FACT!=A``, or a comparison ``FACT>=N`` / ``>`` / ``<=`` / ``<`` (on a list or a mapping,
its length). Only observed facts count: a check that ended in an error produces none,
except ``CHECK.error`` / ``CHECK.error_host``, which only a diagnosis that declares
``from_errors`` (a failure of the infrastructure itself) may require.

Titles and explanations are templates: ``{facts.NAME}`` is replaced by the observed
value, and lint proves that every placeholder names a required fact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9_.-]*?)\s*(?:(!=|>=|<=|=|>|<)\s*(.+?))?\s*$")
_FACT_PLACEHOLDER = re.compile(r"\{facts\.([A-Za-z0-9_.-]+)\}")
ERROR_KEYS = ("error", "error_host")


@dataclass(frozen=True)
class Requirement:
    fact: str
    op: str | None = None
    values: tuple[str, ...] = ()

    @property
    def node(self) -> str:
        return self.fact.partition(".")[0]

    @property
    def key(self) -> str:
        return self.fact.partition(".")[2]

    @property
    def on_outcome(self) -> bool:
        return self.key == "outcome"

    @property
    def on_error(self) -> bool:
        return self.key in ERROR_KEYS

    def __str__(self) -> str:
        return self.fact if self.op is None else f"{self.fact}{self.op}{'|'.join(self.values)}"

    def holds(self, facts: Mapping[str, Any]) -> bool:
        if self.fact not in facts:
            return False
        value = facts[self.fact]
        if self.op is None:
            return value is not None
        if self.op in ("=", "!="):
            hit = _text(value) in self.values
            return hit if self.op == "=" else not hit
        number = _number(value)
        if number is None:
            return False
        limit = float(self.values[0])
        return {
            ">=": number >= limit,
            ">": number > limit,
            "<=": number <= limit,
            "<": number < limit,
        }[self.op]

    def allows_outcome(self, outcome: str) -> bool:
        """Could this requirement hold if its check ended with ``outcome``?"""
        if not self.on_outcome or self.op is None:
            return True
        if self.op == "=":
            return outcome in self.values
        if self.op == "!=":
            return outcome not in self.values
        return False


def parse_requirement(text: str) -> Requirement:
    """``FACT``, ``FACT=A|B``, ``FACT!=A``, ``FACT>=N``...; ValueError says what is wrong."""
    m = _REQ.match(text)
    if m is None or "." not in m.group(1):
        raise ValueError(f"{text!r} is not a requirement (CHECK.FACT, optionally =A|B, >=N ...)")
    fact, op, rhs = m.group(1), m.group(2), m.group(3)
    if op is None:
        return Requirement(fact)
    values = tuple(v.strip() for v in rhs.split("|")) if op in ("=", "!=") else (rhs.strip(),)
    if any(not v for v in values):
        raise ValueError(f"{text!r}: an empty value")
    if op not in ("=", "!="):
        try:
            float(values[0])
        except ValueError:
            raise ValueError(f"{text!r}: {op} needs a number") from None
    return Requirement(fact, op, values)


def parse_set(texts: Sequence[str]) -> tuple[Requirement, ...]:
    return tuple(parse_requirement(t) for t in texts)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list | tuple | dict):
        return float(len(value))
    try:
        return float(str(value))
    except ValueError:
        return None


def fact_placeholders(text: str) -> list[str]:
    """Every ``{facts.NAME}`` in a title or an explanation."""
    return _FACT_PLACEHOLDER.findall(text)


def show_value(value: Any) -> str:
    """A fact's value as words: lists joined, mappings as ``k: v``."""
    if isinstance(value, list | tuple):
        return ", ".join(show_value(v) for v in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {show_value(v)}" for k, v in value.items()) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return _text(value)


def fill(text: str, facts: Mapping[str, Any]) -> str:
    """A title or explanation with its placeholders replaced by observed values."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        return show_value(facts[name]) if name in facts else f"({name} not observed)"

    return _FACT_PLACEHOLDER.sub(sub, text)
