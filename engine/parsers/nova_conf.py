"""Read options from a nova.conf text with configparser (oslo.config's INI dialect).

>>> conf = parse_nova_conf("[DEFAULT]\\nvlan_interface = vlan20\\n", "compute:/etc/nova/nova.conf")
>>> conf.get("DEFAULT", "vlan_interface")
'vlan20'
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass

from engine.errors import CloudtalesError


@dataclass(frozen=True)
class NovaConf:
    source: str
    parser: configparser.RawConfigParser

    def get(self, section: str, option: str) -> str | None:
        if section == "DEFAULT":
            value = self.parser.defaults().get(option.lower())
            return value.strip() if value is not None else None
        if not self.parser.has_section(section):
            return None
        # oslo.config does not inherit DEFAULT into other groups for most options
        raw = self.parser._sections.get(section, {}).get(option.lower())  # type: ignore[attr-defined]
        return str(raw).strip() if raw is not None else None

    def sections(self) -> list[str]:
        return ["DEFAULT", *self.parser.sections()]


def parse_nova_conf(text: str, source: str) -> NovaConf:
    parser = configparser.RawConfigParser(
        strict=False, interpolation=None, inline_comment_prefixes=None, empty_lines_in_values=False
    )
    try:
        parser.read_string(text, source=source)
    except configparser.MissingSectionHeaderError as exc:
        raise CloudtalesError(
            f"{source}:{exc.lineno}: option before any [section] header"
        ) from None
    except configparser.ParsingError as exc:
        lineno = exc.errors[0][0] if exc.errors else "?"
        raise CloudtalesError(f"{source}:{lineno}: cannot parse line (not 'key = value')") from None
    except configparser.Error as exc:
        raise CloudtalesError(f"{source}: {exc.message}") from None
    return NovaConf(source, parser)
