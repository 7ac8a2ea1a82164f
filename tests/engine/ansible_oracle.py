"""What Ansible itself makes of inventories: the oracle of the differential test.

Run as a separate process (``python ansible_oracle.py SOURCE...``) so ansible's global
state never leaks into the test process; prints one JSON object per source:

* ``hosts``: name -> ``{"groups": [...], "vars": {...}, "conn": {...}}`` where ``vars``
  is what ``ansible-inventory --list`` prints for the host (the same call:
  ``VariableManager.get_vars(host, include_hostvars=False, stage="all")`` minus the
  internal static vars), ``groups`` the host's groups, and ``conn`` the ssh connection
  plugin's ``host``/``port``/``remote_user`` options resolved as the task executor does
  (each var the plugin names, templated, then the config manager's precedence);
* ``error``: the message when Ansible refuses the source (unparsed sources are failures,
  ``ANSIBLE_INVENTORY_UNPARSED_FAILED``).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

os.environ["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "True"
os.environ.setdefault("ANSIBLE_LOCAL_TEMP", "/tmp/cloudtales-ansible-oracle")
os.environ["ANSIBLE_NOCOLOR"] = "1"

from ansible import constants as C  # noqa: E402, N812
from ansible.inventory.manager import InventoryManager  # noqa: E402
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.plugins.loader import connection_loader  # noqa: E402
from ansible.template import Templar  # noqa: E402
from ansible.vars.manager import VariableManager  # noqa: E402

CONN_OPTIONS = ("host", "port", "remote_user")


def plain(value: Any) -> Any:
    """Ansible's tagged/native types as JSON-able plain values."""
    return json.loads(json.dumps(value, default=str))


def connection(templar: Templar, variables: dict[str, Any]) -> dict[str, Any]:
    names = C.config.get_plugin_vars("connection", "ssh")
    options = {k: templar.template(variables[k]) for k in names if k in variables}
    found = {}
    for option in CONN_OPTIONS:
        found[option] = C.config.get_config_value(
            option, plugin_type="connection", plugin_name="ssh", variables=options
        )
    return plain(found)


def read(source: str) -> dict[str, Any]:
    loader = DataLoader()
    try:
        inventory = InventoryManager(loader=loader, sources=[source])
    except Exception as exc:  # Ansible's own refusal is the expected result here
        return {"error": str(exc).splitlines()[0]}
    vm = VariableManager(loader=loader, inventory=inventory)
    hosts = {}
    for host in inventory.get_hosts():
        listed = vm.get_vars(host=host, include_hostvars=False, stage="all")
        for internal in C.INTERNAL_STATIC_VARS:
            listed.pop(internal, None)
        full = vm.get_vars(host=host, include_hostvars=False)
        templar = Templar(loader=loader, variables=full)
        hosts[host.name] = {
            "groups": sorted(g.name for g in host.get_groups()),
            "vars": plain(listed),
            "conn": connection(templar, full),
        }
    return {"hosts": hosts}


def main(sources: list[str]) -> None:
    connection_loader.get("ssh", class_only=True)  # registers the plugin's option definitions
    print(json.dumps({source: read(source) for source in sources}))


if __name__ == "__main__":
    main(sys.argv[1:])
