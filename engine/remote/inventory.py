"""The inventory: which hosts exist, how to reach them, and what role each plays.

YAML shape (a lab writes one; operators write their own)::

    name: double-vlan-lab
    ssh:
      known_hosts: /run/cloudtales/labs/x/known_hosts  # optional; default ~/.ssh/known_hosts
      client_keys: [/run/cloudtales/labs/x/id_ed25519]  # optional; default agent + ~/.ssh keys
      config: ~/.ssh/config                             # optional
      username: root
    hosts:
      controller:
        address: 10.0.0.1          # where ssh connects
        port: 22
        roles: [controller]
        transport: ssh             # ssh | local
        become: sudo               # optional: sudo | none (default: none as root, else sudo)
        client_keys: [~/.ssh/cc]   # optional: this host's keys (default: ssh.client_keys)
        vars: {uplink: bond0, tenant_ip: 10.0.100.1}

An Ansible inventory (INI, YAML, JSON or a directory) is read as is: ``load_inventory``
detects it (see ``engine/remote/ansible_inventory.py``). To add ssh settings, a role
mapping or extra hosts, wrap it::

    name: kelowna
    ssh: {config: ~/.ssh/config}
    ansible:
      inventory: hosts.ini                             # relative to this file
      roles: {nova_api: controller, hypervisors: compute}  # optional group -> role(s)
    hosts:                                             # optional; merged by name
      outside: {address: localhost, transport: local, roles: [outside]}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.errors import InventoryError


class SshSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    known_hosts: str | None = None
    client_keys: list[str] | None = None
    config: str | None = None
    username: str | None = None
    connect_timeout: float = 10.0


class Host(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    address: str = "127.0.0.1"
    port: int = 22
    username: str | None = None
    roles: list[str] = Field(default_factory=list)
    transport: Literal["ssh", "local"] = "ssh"
    become: Literal["sudo", "none"] | None = None
    client_keys: list[str] | None = None
    vars: dict[str, Any] = Field(default_factory=dict)


class AnsibleSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inventory: str
    roles: dict[str, str | list[str]] | None = None


class Inventory(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "inventory"
    ssh: SshSettings = Field(default_factory=SshSettings)
    hosts: dict[str, Host]
    source: str | None = None
    notes: list[str] = Field(default_factory=list)  # what an import could not honour
    # which reader made it: "cloudtales" (this YAML), "built-in" (engine's Ansible reader)
    # or "ansible-inventory 2.19.x" (Ansible itself, engine/remote/ansible_cli.py)
    reader: str = "cloudtales"

    def model_post_init(self, __context: Any) -> None:
        for name, host in self.hosts.items():
            host.name = name

    def host(self, name: str) -> Host:
        try:
            return self.hosts[name]
        except KeyError:
            known = ", ".join(sorted(self.hosts)) or "none"
            raise InventoryError(
                f"{self.source or 'inventory'}: no host named {name!r} (known: {known})"
            ) from None

    def by_role(self, role: str) -> list[Host]:
        return [h for h in self.hosts.values() if role in h.roles or h.name == role]

    def resolve(self, selector: str) -> list[Host]:
        """A host name, or a role; an unknown selector is a one-line error."""
        if selector in self.hosts:
            return [self.hosts[selector]]
        found = self.by_role(selector)
        if not found:
            known = ", ".join(sorted(self.hosts)) or "none"
            raise InventoryError(
                f"{self.source or 'inventory'}: no host or role {selector!r} (hosts: {known})",
                host=selector,
            )
        return found


def load_inventory(path: str | Path, ansible_inventory: str | None = None) -> Inventory:
    """A cloudtales inventory, or an Ansible inventory file or directory (detected).

    An Ansible inventory is read by ``ansible-inventory`` when it is installed (or
    ``ansible_inventory`` names it; ``"builtin"`` selects the built-in reader), see
    ``engine/remote/ansible_cli.py``."""
    p = Path(path).expanduser()
    if p.is_dir():
        return load_ansible(p, ansible_inventory)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise InventoryError(f"{p}: inventory file not found") from None
    except UnicodeDecodeError:
        raise InventoryError(f"{p}: not a text file") from None
    except OSError as exc:
        raise InventoryError(f"{p}: cannot read ({exc.strerror})") from None
    from engine.remote.ansible_inventory import inventory_format

    if inventory_format(p, text) != "cloudtales":
        return load_ansible(p, ansible_inventory, text=text)
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise InventoryError(
            f"{p}{line}: not valid YAML ({getattr(exc, 'problem', exc)})"
        ) from None
    if not isinstance(data, dict):
        raise InventoryError(f"{p}: an inventory is a mapping with a 'hosts' key")
    if "ansible" in data:
        data = _with_ansible(p, data, ansible_inventory)
    try:
        inv = Inventory.model_validate({**data, "source": str(p)})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        raise InventoryError(f"{p}: {field}: {err['msg']}") from None
    return inv


def load_ansible(
    p: Path,
    program: str | None = None,
    *,
    roles: dict[str, str | list[str]] | None = None,
    text: str | None = None,
) -> Inventory:
    """An Ansible inventory, by ``ansible-inventory`` when there is one, else built-in."""
    from engine.remote.ansible_cli import find_ansible_inventory, load_with_ansible
    from engine.remote.ansible_inventory import load_ansible_inventory

    found = find_ansible_inventory(program)
    if found is not None:
        return load_with_ansible(p, found, roles=roles)
    return load_ansible_inventory(p, roles=roles, text=text)


def _with_ansible(p: Path, data: dict[str, Any], program: str | None = None) -> dict[str, Any]:
    """``data`` with the hosts of its ``ansible:`` inventory merged under its own."""

    try:
        src = AnsibleSource.model_validate(data["ansible"])
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in ("ansible", *err["loc"]))
        raise InventoryError(f"{p}: {field}: {err['msg']}") from None
    target = Path(src.inventory).expanduser()
    if not target.is_absolute():
        target = p.parent / target
    imported = load_ansible(target, program, roles=src.roles)
    hosts: dict[str, Any] = {
        name: h.model_dump(exclude_unset=True, exclude={"name"})
        for name, h in imported.hosts.items()
    }
    own = data.get("hosts") or {}
    if not isinstance(own, dict):
        raise InventoryError(f"{p}: hosts: must be a mapping of host names")
    for name, entry in own.items():
        base = hosts.get(name, {})
        if isinstance(entry, dict) and base:
            entry = {**base, **entry, "vars": {**base.get("vars", {}), **entry.get("vars", {})}}
        hosts[name] = entry
    ssh = {**imported.ssh.model_dump(exclude_unset=True), **(data.get("ssh") or {})}
    rest = {k: v for k, v in data.items() if k not in ("ansible", "hosts", "ssh")}
    return {
        "name": imported.name,
        **rest,
        "ssh": ssh,
        "hosts": hosts,
        "notes": imported.notes,
        "reader": imported.reader,
    }
