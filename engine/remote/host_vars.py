"""Inventory values checked before they reach a command line.

A host var that names an interface, a path or a host is checked against what such a
value can be; a value that cannot be one ends the check as an error naming the
inventory, host, var and value, instead of reaching ``tcpdump -i`` or ``ping``:

* interface (``*iface``, ``*_interface``, ``uplink``): Linux's ``dev_valid_name``:
  1 to 15 bytes, not ``.`` or ``..``, no ``/``, ``:`` or whitespace;
* path (``*_conf``, ``*_path``, ``*_dir``, ``*_log``, ``instances_path``): absolute, printable, no
  whitespace and no shell metacharacter;
* host (``ip``, ``address``, ``*_ip``, ``*_address``): an IPv4/IPv6 address or an RFC 1123
  host name.

Other vars pass through unchanged (the table is ``kind_of``). ``safe_command`` tells the
live-pane dialog which suggested commands (built from these vars) it may pre-fill.

>>> problem("capture_iface", "eth0;touch $HOME/pwned")
'is not an interface name'
>>> problem("capture_iface", "bond0.100"), problem("colour", "any; thing")
(None, None)
>>> shown("eth0;touch $HOME/pwned")
"'eth0;touch …'"
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from typing import Any, Literal

Kind = Literal["interface", "path", "host"]

IFNAMSIZ = 16  # the kernel's limit, NUL included
_KERNEL_SPACE = " \t\n\v\f\r\xa0"  # isspace() in the kernel's ctype table
_PATH_SAFE = re.compile(r"^/[A-Za-z0-9._+,=@%/:-]*$")
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
MAX_SHOWN = 32
REASONS: dict[Kind, str] = {
    "interface": "is not an interface name",
    "path": "is not an absolute path without spaces or shell metacharacters",
    "host": "is not a host name or IP address",
}


def kind_of(var: str) -> Kind | None:
    """What a host var names, from its name; None: not checked."""
    if var.endswith(("iface", "_interface")) or var == "uplink":
        return "interface"
    if var.endswith(("_conf", "_path", "_dir", "_log")) or var == "instances_path":
        return "path"
    if var in ("ip", "address") or var.endswith(("_ip", "_address")):
        return "host"
    return None


def valid_interface(name: str) -> bool:
    """The kernel's ``dev_valid_name`` (net/core/dev.c)."""
    if not name or len(name.encode()) >= IFNAMSIZ or name in (".", ".."):
        return False
    return not any(ch in "/:" or ch in _KERNEL_SPACE or ch == "\0" for ch in name)


def valid_path(path: str) -> bool:
    return len(path) <= 4096 and bool(_PATH_SAFE.match(path)) and "\0" not in path


def valid_host(host: str) -> bool:
    """An IP address (IPv6 with a ``%zone`` too) or an RFC 1123 host name."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    if not name or len(name) > 253:
        return False
    return all(_LABEL.match(label) for label in name.split("."))


_VALID = {"interface": valid_interface, "path": valid_path, "host": valid_host}


def problem(var: str, value: Any) -> str | None:
    """Why ``value`` cannot be what ``var`` names, or None when it can (or is unchecked)."""
    kind = kind_of(var)
    if kind is None or isinstance(value, bool) or value is None:
        return None if kind is None else REASONS[kind]
    return None if _VALID[kind](str(value)) else REASONS[kind]


def shown(value: Any) -> str:
    """The value, quoted and cut sensibly: at its first whitespace, or ``MAX_SHOWN``."""
    text = str(value)
    cut = next((i for i, ch in enumerate(text) if ch.isspace() or not ch.isprintable()), None)
    if cut is not None and cut < len(text):
        text = text[:cut] + " …" if cut else "…"
    if len(text) > MAX_SHOWN:
        text = text[: MAX_SHOWN - 1] + "…"
    return "'" + text.replace("'", "\\'") + "'"


def message(source: str, host: str, var: str, value: Any, reason: str) -> str:
    """``inventory.yaml: host compute: var capture_iface: 'eth0;touch …' is not ...``"""
    return f"{source}: host {host}: var {var}: {shown(value)} {reason}"


_SHELL_META = set(";&|$`<>(){}*?[]!\\'\"#~")


def safe_command(command: str) -> bool:
    """A suggested command with no shell metacharacter, control character or odd
    quoting, whose ``-i`` argument (if any) is an interface name."""
    if any(ch in _SHELL_META or not (ch.isprintable() or ch == " ") for ch in command):
        return False
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    return all(
        valid_interface(nxt) for word, nxt in zip(words, words[1:], strict=False) if word == "-i"
    )
