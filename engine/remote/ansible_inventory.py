"""An Ansible inventory as a cloudtales ``Inventory``: the hosts operators already list.

Reads a static inventory file (INI, YAML, or the JSON that ``ansible-inventory --list``
prints) or an inventory directory, plus the ``group_vars/`` and ``host_vars/`` beside it,
and applies Ansible's variable precedence: group vars from ``all`` down to the deepest
group (same depth: by ``ansible_group_priority``, then name), then ``group_vars/`` files
in that order, then the host's own vars, then ``host_vars/``.

Each host becomes a ``Host``:

* ``address`` from ``ansible_host`` (or the inventory name, which may be a Host alias of
  the ssh config: HostName, ProxyJump and IdentityFile then apply);
  ``port``/``username`` from ``ansible_port``/``ansible_user``; a per-host key from
  ``ansible_ssh_private_key_file``; ``ansible_connection=local`` -> ``transport: local``;
* ``become`` from ``ansible_become`` (``sudo``; see ``engine/privilege.py``);
* ``roles``: the roles its groups map to, then its group names. Without a mapping,
  well-known group names map to roles (``ROLE_GROUPS``: ``control``/``controllers``
  -> controller, ``compute_hosts``/``computes`` -> compute ...); a mapping given by the
  operator (``{nova_api: controller, hypervisors: compute}``) replaces that table;
* ``vars``: every merged variable (passwords dropped) and ``group_names``.

``-F FILE`` in ``ansible_ssh_common_args`` becomes the inventory's ssh config. What cannot
be honoured (password logins, ``ProxyJump`` in ssh args, become methods other than sudo,
non-ssh connections, Jinja beyond ``{{ var }}``) is listed in ``Inventory.notes``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.errors import InventoryError
from engine.parsers.ansible_hosts import ALL, UNGROUPED, AnsibleTree
from engine.parsers.ansible_ini import parse_ansible_ini
from engine.parsers.ansible_yaml import load_yaml_vars, parse_ansible_json, parse_ansible_yaml
from engine.remote.inventory import Inventory, SshSettings
from engine.remote.ssh_config import config_beside, ssh_args_config

ROLE_GROUPS: dict[str, tuple[str, ...]] = {
    "controller": ("controller", "controllers", "control", "os-infra_hosts"),
    "compute": ("compute", "computes", "compute_hosts"),
}
PASSWORD_VARS = (
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
    "ansible_become_pass",
    "ansible_become_password",
    "ansible_sudo_pass",
)
SSH_CONNECTIONS = {"ssh", "smart", "paramiko", "paramiko_ssh", "ansible.builtin.ssh"}
IGNORED_SUFFIXES = (".orig", ".bak", ".cfg", ".retry", ".pyc", ".pyo", ".md", ".txt", "~")
VAULT_HEADER = "$ANSIBLE_VAULT;"
_SECTION_LINE = re.compile(r"^\[[^\]]*\]?\s*([#;].*)?$")
_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
CLOUDTALES_KEYS = {"name", "ssh", "hosts", "ansible"}

RoleMap = Mapping[str, str | Sequence[str]]


# ---------------------------------------------------------------- detection


def inventory_format(path: Path, text: str) -> str:
    """``cloudtales``, ``ini``, ``yaml`` or ``json`` (an Ansible inventory) for a file."""
    if text.lstrip().startswith(VAULT_HEADER):
        raise InventoryError(
            f"{path}: encrypted with ansible-vault; decrypt a copy first (ansible-vault view)"
        )
    suffix = path.suffix.lower()
    if suffix == ".json" or text.lstrip().startswith("{"):
        return "json"
    first = next((ln.strip() for ln in text.splitlines() if _significant(ln)), "")
    if suffix not in (".yml", ".yaml") and (suffix == ".ini" or _SECTION_LINE.match(first)):
        return "ini"
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        # a YAML file with a typo should get the YAML error, not an INI one
        return "yaml" if suffix in (".yml", ".yaml") or first.endswith(":") else "ini"
    if isinstance(data, dict):
        keys = set(data)
        if keys <= CLOUDTALES_KEYS and (isinstance(data.get("hosts"), dict) or "ansible" in keys):
            return "cloudtales"
        return "yaml"
    return "yaml" if suffix in (".yml", ".yaml") else "ini"


def _significant(line: str) -> bool:
    s = line.strip()
    return bool(s) and s[0] not in "#;" and s != "---"


# ---------------------------------------------------------------- loading


def load_ansible_inventory(
    path: str | Path,
    *,
    roles: RoleMap | None = None,
    text: str | None = None,
    name: str | None = None,
) -> Inventory:
    """Read an Ansible inventory file or directory (see the module docstring)."""
    p = Path(path).expanduser()
    if p.is_dir():
        tree = AnsibleTree()
        files = [f for f in sorted(p.iterdir()) if _inventory_file(f)]
        if not files:
            raise InventoryError(f"{p}: no inventory files in this directory")
        for f in files:
            tree.merge(parse_tree(f, _read(f)))
        tree.finish()
        base = p
    else:
        tree = parse_tree(p, _read(p) if text is None else text)
        base = p.parent
    return tree_to_inventory(tree, p, base, roles=roles, name=name)


def parse_tree(path: Path, text: str) -> AnsibleTree:
    fmt = inventory_format(path, text)
    source = str(path)
    if fmt == "ini":
        return parse_ansible_ini(text, source)
    if fmt == "json":
        return parse_ansible_json(text, source)
    if fmt == "cloudtales":
        raise InventoryError(f"{path}: a cloudtales inventory, not an Ansible one")
    return parse_ansible_yaml(text, source)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise InventoryError(f"{path}: inventory file not found") from None
    except UnicodeDecodeError:
        raise InventoryError(f"{path}: not a text file") from None
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read ({exc.strerror})") from None


def _inventory_file(path: Path) -> bool:
    if path.name.startswith(".") or path.name in ("group_vars", "host_vars"):
        return False
    return path.is_file() and not path.name.endswith(IGNORED_SUFFIXES)


# ---------------------------------------------------------------- variables


class _VarFiles:
    """``group_vars/NAME[.yml|.yaml|.json]`` and ``NAME/`` directories (ditto host_vars)."""

    def __init__(self, base: Path, notes: list[str]) -> None:
        self.base = base
        self.notes = notes
        self._cache: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, kind: str, name: str) -> dict[str, Any]:
        key = (kind, name)
        if key not in self._cache:
            self._cache[key] = self._load(self.base / kind, name)
        return self._cache[key]

    def _load(self, where: Path, name: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        candidates = [where / name, *(where / f"{name}{ext}" for ext in (".yml", ".yaml", ".json"))]
        files: list[Path] = []
        for c in candidates:
            if c.is_dir():
                files += sorted(f for f in c.rglob("*") if f.is_file() and _inventory_file(f))
            elif c.is_file():
                files.append(c)
        for f in files:
            text = _read(f)
            if text.lstrip().startswith(VAULT_HEADER):
                self.notes.append(f"{f}: encrypted with ansible-vault, not read")
                continue
            found.update(load_yaml_vars(text, str(f)))
        return found


def host_vars(tree: AnsibleTree, host: str, files: _VarFiles) -> tuple[dict[str, Any], list[str]]:
    """The host's variables after Ansible's precedence, and its groups in that order."""
    depth = tree.depth()
    groups = tree.host_groups(host)

    def order(g: str) -> tuple[int, int, str]:
        prio = tree.groups[g].vars.get("ansible_group_priority", 1)
        return depth[g], int(prio) if str(prio).lstrip("-").isdigit() else 1, g

    ordered = sorted(groups, key=order)
    merged: dict[str, Any] = {}
    for g in ordered:
        merged.update(tree.groups[g].vars)
    for g in ordered:
        merged.update(files.get("group_vars", g))
    merged.update(tree.hosts[host].vars)
    merged.update(files.get("host_vars", host))
    return merged, ordered


def _render(value: Any, scope: Mapping[str, Any]) -> tuple[Any, bool]:
    """``{{ var }}`` substituted from ``scope``; False when Jinja is left unrendered."""
    if not isinstance(value, str) or "{{" not in value:
        return value, True
    rendered = _TEMPLATE.sub(
        lambda m: str(scope[m.group(1)]) if m.group(1) in scope else m.group(0), value
    )
    return rendered, "{{" not in rendered


# ---------------------------------------------------------------- hosts


def role_table(roles: RoleMap | None) -> dict[str, list[str]]:
    """group -> roles: the operator's mapping, else ``ROLE_GROUPS``."""
    if roles is None:
        return {g: [role] for role, groups in ROLE_GROUPS.items() for g in groups}
    return {g: [r] if isinstance(r, str) else list(r) for g, r in roles.items()}


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on", "y")


def tree_to_inventory(
    tree: AnsibleTree,
    source: Path,
    base: Path,
    *,
    roles: RoleMap | None = None,
    name: str | None = None,
) -> Inventory:
    notes: list[str] = []
    host_notes: dict[str, list[str]] = {}
    files = _VarFiles(base, notes)
    table = role_table(roles)
    hosts: dict[str, dict[str, Any]] = {}
    configs: Counter[str] = Counter()
    passwords: set[str] = set()
    for hname, ahost in tree.hosts.items():
        merged, groups = host_vars(tree, hname, files)
        scope = {"inventory_hostname": hname, "inventory_hostname_short": hname.split(".")[0]}
        scope.update(merged)
        entry, config = _host_entry(hname, ahost.where, merged, groups, table, scope, host_notes)
        passwords |= {v for v in PASSWORD_VARS if v in merged}
        if entry is None:
            continue
        hosts[hname] = entry
        if config:
            configs[config] += 1
    notes += [f"{_some(names)}: {message}" for message, names in host_notes.items()]
    if passwords:
        notes.append(
            f"{', '.join(sorted(passwords))} not used: cloudtales logs in with keys "
            "(agent, IdentityFile) and uses sudo -n"
        )
    if not hosts:
        raise InventoryError(f"{source}: no hosts cloudtales can reach over ssh or locally")
    ssh = SshSettings()
    if configs:
        chosen = configs.most_common(1)[0][0]
        if len(configs) > 1:
            notes.append(f"hosts use different ssh configs (-F); using {chosen}")
        ssh = SshSettings(config=config_beside(chosen, base))
    return Inventory.model_validate(
        {
            "name": name or source.stem or "ansible",
            "ssh": ssh,
            "hosts": hosts,
            "source": str(source),
            "notes": notes,
        }
    )


def _some(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"host{'s' if len(names) > 1 else ''} {shown}{more}"


def _first(merged: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if merged.get(key) not in (None, ""):
            return merged[key]
    return None


def _host_entry(
    name: str,
    where: str,
    merged: dict[str, Any],
    groups: list[str],
    table: dict[str, list[str]],
    scope: Mapping[str, Any],
    notes: dict[str, list[str]],
) -> tuple[dict[str, Any] | None, str | None]:
    connection = str(merged.get("ansible_connection") or "ssh")
    if connection not in SSH_CONNECTIONS and connection != "local":
        notes.setdefault(f"ansible_connection={connection} is not supported: skipped", []).append(
            name
        )
        return None, None
    entry: dict[str, Any] = {"transport": "local" if connection == "local" else "ssh"}
    fields = {
        "address": ("ansible_host", "ansible_ssh_host"),
        "port": ("ansible_port", "ansible_ssh_port"),
        "username": ("ansible_user", "ansible_ssh_user", "ansible_remote_user"),
        "client_key": ("ansible_ssh_private_key_file", "ansible_private_key_file"),
    }
    for field, keys in fields.items():
        value = _first(merged, *keys)
        if value is None:
            continue
        value, ok = _render(value, scope)
        if not ok:
            notes.setdefault(f"{keys[0]} is a Jinja template cloudtales cannot render", []).append(
                name
            )
            continue
        entry[field] = value
    entry.setdefault("address", name)
    entry["address"] = str(entry["address"])
    if "port" in entry:
        port = str(entry["port"]).strip()
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise InventoryError(
                f"{where}: host {name}: ansible_port {entry['port']!r} is not a port number"
            )
        entry["port"] = int(port)
    if "username" in entry:
        entry["username"] = str(entry["username"])
    if "client_key" in entry:
        entry["client_keys"] = [str(entry.pop("client_key"))]
    become = merged.get("ansible_become", merged.get("ansible_sudo"))
    if become is not None:
        entry["become"] = "sudo" if _truthy(become) else "none"
        method = str(merged.get("ansible_become_method") or "sudo")
        if _truthy(become) and method != "sudo":
            notes.setdefault(f"become method {method} not supported: using sudo -n", []).append(
                name
            )
        user = str(merged.get("ansible_become_user") or "root")
        if _truthy(become) and user != "root":
            notes.setdefault(
                f"ansible_become_user={user} ignored: sudo -n runs as root", []
            ).append(name)
    config = None
    for key in ("ansible_ssh_common_args", "ansible_ssh_args", "ansible_ssh_extra_args"):
        found, jump = ssh_args_config(str(merged.get(key) or ""))
        config = config or found
        if jump:
            notes.setdefault(
                f"{jump} in {key} is not read: put it in the ssh config (Host ... / {jump} ...)",
                [],
            ).append(name)
    roles = [r for g in groups if g in table for r in table[g]]
    roles += [g for g in groups if g not in (ALL, UNGROUPED)]
    entry["roles"] = list(dict.fromkeys(roles))
    kept = {k: v for k, v in merged.items() if k not in PASSWORD_VARS}
    kept["group_names"] = sorted(g for g in groups if g not in (ALL, UNGROUPED))
    entry["vars"] = kept
    return entry, config
