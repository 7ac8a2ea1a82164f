"""OpenStack host names (what the API says) to inventory hosts (what cloudtales reaches).

A compute named by nova is the inventory host of that name, or the one whose
``os_host`` var says so. A host the inventory lacks is one line naming it and what to add.
"""

from __future__ import annotations

from engine.errors import CloudtalesError
from engine.remote.inventory import Host, Inventory


def inventory_host(inventory: Inventory, os_host: str) -> Host:
    for name, host in inventory.hosts.items():
        if os_host in (name, host.name, str(host.vars.get("os_host") or "")):
            return host
    raise CloudtalesError(
        f"host {os_host} (named by the OpenStack API) is not in inventory {inventory.name}: "
        f"add it under hosts: ({os_host}: {{address: ..., roles: [compute]}}), "
        "or set os_host: " + os_host + " on the host that it is",
        host=os_host,
    )
