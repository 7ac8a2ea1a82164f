"""Where Ansible's ssh connection plugin connects: address, port, user and key of a host.

The plugin's options read variables in a fixed list, and the *last* one defined wins
(``ConfigManager._loop_entries``), whatever level each was set at. So the legacy names
beat the new ones: with ``ansible_ssh_user=centos`` in ``[all:vars]`` and
``ansible_user=ubuntu`` on the host line, Ansible logs in as centos.

Values are templated before use, as the task executor does. The built-in renderer knows
``{{ var }}`` (nested to any depth, and a whole-value ``{{ var }}`` keeps the var's
type); anything more (filters, expressions, ``{% %}``) is refused with one line.

>>> c = resolve_connection("web01", {"ansible_ssh_user": "centos", "ansible_user": "ubuntu"})
>>> (c.address, c.port, c.user)
('web01', None, 'centos')
>>> render("{{ a }}.5", {"a": "{{ b }}.0.0", "b": 10}, "web01", "ansible_host")
'10.0.0.5'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import InventoryError

# the ssh plugin's `vars:` lists, in its order (ansible/plugins/connection/ssh.py)
ADDRESS_VARS = ("inventory_hostname", "ansible_host", "ansible_ssh_host")
PORT_VARS = ("ansible_port", "ansible_ssh_port")
USER_VARS = ("ansible_user", "ansible_ssh_user")
KEY_VARS = ("ansible_private_key_file", "ansible_ssh_private_key_file")
MAX_DEPTH = 20
_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_JINJA = ("{{", "{%", "{#")


@dataclass(frozen=True)
class Connection:
    address: str
    port: int | None
    user: str | None
    key: str | None


def last_defined(variables: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str, Any] | None:
    """(name, value) of the last of ``names`` whose value is not None (Ansible's rule)."""
    found = None
    for name in names:
        if variables.get(name) is not None:
            found = (name, variables[name])
    return found


def scope_of(name: str, variables: Mapping[str, Any]) -> dict[str, Any]:
    """The variables a template sees: the host's, plus the magic ones it can use."""
    scope = dict(variables)
    scope.setdefault("inventory_hostname", name)
    scope.setdefault("inventory_hostname_short", name.split(".")[0])
    return scope


def resolve_connection(
    name: str, variables: Mapping[str, Any], where: str | None = None
) -> Connection:
    """The connection values for host ``name`` (``where`` names it in errors)."""
    scope = scope_of(name, variables)
    label = where or f"host {name}"
    values: dict[str, Any] = {}
    for field, names in (
        ("address", ADDRESS_VARS),
        ("port", PORT_VARS),
        ("user", USER_VARS),
        ("key", KEY_VARS),
    ):
        found = last_defined(scope, names)
        values[field] = None if found is None else render(found[1], scope, label, found[0])
    port = values["port"]
    if port is not None:
        text = str(port).strip()
        if not text.isdigit() or not 0 < int(text) < 65536:
            raise InventoryError(f"{label}: {_port_var(scope)} {port!r} is not a port number")
        port = int(text)
    return Connection(
        address=str(values["address"]),
        port=port,
        user=None if values["user"] is None else str(values["user"]),
        key=None if values["key"] is None else str(values["key"]),
    )


def _port_var(scope: Mapping[str, Any]) -> str:
    found = last_defined(scope, PORT_VARS)
    return found[0] if found else "ansible_port"


def render(value: Any, scope: Mapping[str, Any], label: str, var: str, depth: int = 0) -> Any:
    """``value`` with ``{{ name }}`` replaced from ``scope``, recursively."""
    if not isinstance(value, str) or not any(mark in value for mark in _JINJA):
        return value
    if depth > MAX_DEPTH:
        raise InventoryError(f"{label}: {var}: templates nest more than {MAX_DEPTH} deep (a loop?)")

    def lookup(name: str) -> Any:
        if name not in scope:
            raise InventoryError(f"{label}: {var}: template uses {name!r}, which is not defined")
        return render(scope[name], scope, label, name, depth + 1)

    whole = _VAR.fullmatch(value.strip())
    if whole:
        return lookup(whole.group(1))
    rendered = _VAR.sub(lambda m: str(lookup(m.group(1))), value)
    if any(mark in rendered for mark in _JINJA):
        raise InventoryError(
            f"{label}: {var} {_short(value)!r} uses Jinja beyond {{{{ var }}}} (filters, "
            "expressions), which cloudtales does not render: give the plain value"
        )
    return rendered


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
