"""An Ansible inventory as a cloudtales ``Inventory``: the hosts operators already list.

This is the built-in reader (``engine/remote/ansible_cli.py`` runs ``ansible-inventory``
instead when it is installed). It reads a static inventory file (INI, YAML, or the JSON
that ``ansible-inventory --list`` prints) or an inventory directory (every file, in name
order, subdirectories too, skipping what Ansible skips: hidden names, ``*.rst``, ``*.md``,
``*.txt``, ``*.bak``, ...), plus the ``group_vars/`` and ``host_vars/`` beside it
(``NAME``, ``NAME.yml``, ``NAME.yaml`` or ``NAME.json``: the first that exists, a
directory read recursively), and applies Ansible's variable precedence: inventory group
vars from ``all`` down to the deepest group (same depth: by ``ansible_group_priority``,
then name), then ``group_vars/`` files in that order, then the host's own vars, then
``host_vars/``. ``tests/engine/test_inventory_differential.py`` holds it to Ansible.

Each host becomes a ``Host``:

* ``address``/``port``/``username``/key as Ansible's ssh plugin resolves them
  (``engine/remote/ansible_connection.py``: the legacy ``ansible_ssh_*`` names win;
  templates rendered); without an address, the inventory name, which may be a Host
  alias of the ssh config (HostName, ProxyJump and IdentityFile then apply);
  ``ansible_connection=local`` -> ``transport: local``;
* ``become`` from ``ansible_become`` (``sudo``; see ``engine/privilege.py``);
* ``roles``: the roles its groups map to, then its group names. Without a mapping,
  well-known group names map to roles (``ROLE_GROUPS``: ``control``/``controllers``
  -> controller, ``compute_hosts``/``computes`` -> compute ...); a mapping given by the
  operator (``{nova_api: controller, hypervisors: compute}``) replaces that table;
* ``vars``: every merged variable (passwords dropped) and ``group_names``.

``Inventory.reader`` says which reader produced it (``built-in`` here).

``-F FILE`` in ``ansible_ssh_common_args`` becomes the inventory's ssh config. What cannot
be honoured (password logins, ``ProxyJump`` in ssh args, become methods other than sudo,
non-ssh connections) is listed in ``Inventory.notes``; Jinja beyond ``{{ var }}`` in a
connection variable is refused.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.errors import InventoryError
from engine.parsers.ansible_hosts import ALL, UNGROUPED, AnsibleTree
from engine.parsers.ansible_ini import parse_ansible_ini
from engine.parsers.ansible_yaml import load_yaml_vars, parse_ansible_json, parse_ansible_yaml
from engine.remote.ansible_connection import resolve_connection
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
# ansible/inventory/manager.py IGNORED: always, then INVENTORY_IGNORE_EXTS (REJECT_EXTS + 3)
_IGNORED_EXTS = (".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst")
_IGNORED = re.compile(
    "|".join(
        [r"^\.", "^host_vars$", "^group_vars$", "^vars_plugins$"]
        + [re.escape(x) + "$" for x in (*_IGNORED_EXTS, ".orig", ".cfg", ".retry")]
    )
)
VARS_EXTENSIONS = (".yml", ".yaml", ".json")  # YAML_FILENAME_EXTENSIONS
VAULT_HEADER = "$ANSIBLE_VAULT;"
_SECTION_LINE = re.compile(r"^\[[^\]]*\]?\s*([#;].*)?$")
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
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml
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
        if not _read_dir(p, tree):
            raise InventoryError(f"{p}: no inventory files in this directory")
        tree.finish()
        base = p
    else:
        tree = parse_tree(p, _read(p) if text is None else text)
        base = p.parent
    return tree_to_inventory(tree, p, base, roles=roles, name=name)


def _read_dir(directory: Path, tree: AnsibleTree) -> int:
    """Every inventory file under ``directory`` into ``tree``, as Ansible walks it."""
    count = 0
    for name in sorted(os.listdir(directory)):
        if _IGNORED.search(name):
            continue
        entry = directory / name
        if entry.is_dir():
            count += _read_dir(entry, tree)
        elif entry.is_file():
            parse_tree(entry, _read(entry), tree)
            count += 1
    return count


def parse_tree(path: Path, text: str, tree: AnsibleTree | None = None) -> AnsibleTree:
    """One file into ``tree`` (an inventory directory so far), or into a finished tree."""
    fmt = inventory_format(path, text)
    source = str(path)
    if fmt == "ini":
        return parse_ansible_ini(text, source, tree)
    if fmt == "json":
        return parse_ansible_json(text, source, tree)
    if fmt == "cloudtales":
        raise InventoryError(f"{path}: a cloudtales inventory, not an Ansible one")
    return parse_ansible_yaml(text, source, tree)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise InventoryError(f"{path}: inventory file not found") from None
    except UnicodeDecodeError:
        raise InventoryError(f"{path}: not a text file") from None
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read ({exc.strerror})") from None


# ---------------------------------------------------------------- variables


class _VarFiles:
    """``group_vars/NAME``: the first of ``NAME`` (a file, or a directory read
    recursively), ``NAME.yml``, ``NAME.yaml``, ``NAME.json`` (ditto ``host_vars``), as
    Ansible's ``DataLoader.find_vars_files``."""

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
        files: list[Path] = []
        for ext in ("", *VARS_EXTENSIONS):
            c = where / f"{name}{ext}"
            if c.is_dir():
                files = _vars_dir(c)
                break
            if c.exists():
                files = [c]
                break
        for f in files:
            text = _read(f)
            if text.lstrip().startswith(VAULT_HEADER):
                self.notes.append(f"{f}: encrypted with ansible-vault, not read")
                continue
            found.update(load_yaml_vars(text, str(f)))
        return found


def _vars_dir(path: Path) -> list[Path]:
    """Ansible's ``_get_dir_vars_files``: sorted, recursive, no hidden or ``~`` names,
    only files without an extension or with a YAML/JSON one (``x.yml.disabled``: no)."""
    found: list[Path] = []
    for name in sorted(os.listdir(path)):
        if name.startswith(".") or name.endswith("~"):
            continue
        entry, ext = path / name, os.path.splitext(name)[1]
        if entry.is_dir() and not ext:
            found += _vars_dir(entry)
        elif entry.is_file() and (not ext or ext in VARS_EXTENSIONS):
            found.append(entry)
    return found


def host_vars(
    tree: AnsibleTree, host: str, files: _VarFiles | None
) -> tuple[dict[str, Any], list[str]]:
    """The host's variables after Ansible's precedence, and its groups in that order
    (``files`` None: the tree's vars are already merged, as ``ansible-inventory`` prints)."""
    ordered = tree.order(tree.host_groups(host))
    merged: dict[str, Any] = {}
    for g in ordered:
        merged.update(tree.groups[g].vars)
    if files is not None:
        for g in ordered:
            merged.update(files.get("group_vars", g))
    merged.update(tree.hosts[host].vars)
    if files is not None:
        merged.update(files.get("host_vars", host))
    return merged, ordered


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
    reader: str = "built-in",
    var_files: bool = True,
) -> Inventory:
    notes: list[str] = []
    host_notes: dict[str, list[str]] = {}
    files = _VarFiles(base, notes) if var_files else None
    table = role_table(roles)
    hosts: dict[str, dict[str, Any]] = {}
    configs: Counter[str] = Counter()
    passwords: set[str] = set()
    for hname, ahost in tree.hosts.items():
        merged, groups = host_vars(tree, hname, files)
        entry, config = _host_entry(hname, ahost.where, merged, groups, table, host_notes)
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
            "reader": reader,
        }
    )


def _some(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"host{'s' if len(names) > 1 else ''} {shown}{more}"


def _host_entry(
    name: str,
    where: str,
    merged: dict[str, Any],
    groups: list[str],
    table: dict[str, list[str]],
    notes: dict[str, list[str]],
) -> tuple[dict[str, Any] | None, str | None]:
    connection = str(merged.get("ansible_connection") or "ssh")
    if connection not in SSH_CONNECTIONS and connection != "local":
        notes.setdefault(f"ansible_connection={connection} is not supported: skipped", []).append(
            name
        )
        return None, None
    entry: dict[str, Any] = {"transport": "local" if connection == "local" else "ssh"}
    conn = resolve_connection(
        name, {**merged, "group_names": _group_names(groups)}, where_host(where, name)
    )
    entry["address"] = conn.address
    if conn.port is not None:
        entry["port"] = conn.port
    if conn.user is not None:
        entry["username"] = conn.user
    if conn.key is not None:
        entry["client_keys"] = [conn.key]
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
    kept["group_names"] = _group_names(groups)
    entry["vars"] = kept
    return entry, config


def _group_names(groups: list[str]) -> list[str]:
    """Ansible's ``group_names``: every group but ``all`` (``ungrouped`` included)."""
    return sorted(g for g in groups if g != ALL)


def where_host(where: str, name: str) -> str:
    return f"{where}: host {name}" if where else f"host {name}"
