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
        vars: {uplink: bond0, tenant_ip: 10.0.100.1}
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
    vars: dict[str, Any] = Field(default_factory=dict)


class Inventory(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "inventory"
    ssh: SshSettings = Field(default_factory=SshSettings)
    hosts: dict[str, Host]
    source: str | None = None

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
                f"{self.source or 'inventory'}: no host or role {selector!r} (hosts: {known})"
            )
        return found


def load_inventory(path: str | Path) -> Inventory:
    p = Path(path).expanduser()
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise InventoryError(f"{p}: inventory file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise InventoryError(
            f"{p}{line}: not valid YAML ({getattr(exc, 'problem', exc)})"
        ) from None
    if not isinstance(data, dict):
        raise InventoryError(f"{p}: an inventory is a mapping with a 'hosts' key")
    try:
        inv = Inventory.model_validate({**data, "source": str(p)})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        raise InventoryError(f"{p}: {field}: {err['msg']}") from None
    return inv
