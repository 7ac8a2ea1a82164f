"""Read Ansible YAML inventories, and the JSON that ``ansible-inventory --list`` prints.

YAML (Ansible's ``yaml`` plugin): the top level maps group names (usually ``all``) to
``{hosts, children, vars}``; ``hosts`` maps host patterns to their variables (or
nothing); ``children`` maps group names to groups of the same shape. The file is walked
node by node, so an error names the line. ``!vault`` values (inline ansible-vault
secrets) load as a placeholder and ``!unsafe`` as plain text. A dynamic inventory
plugin config (``plugin: ...``) is refused with the command that turns it static.

JSON (the dynamic-inventory script format, which ``ansible-inventory -i ANY --list``
prints for any inventory, dynamic ones included)::

    {"_meta": {"hostvars": {"nc01": {"ansible_host": "10.0.0.2"}}},
     "all": {"children": ["compute"]},
     "compute": {"hosts": ["nc01"], "vars": {"ntp": "10.0.0.9"}}}

>>> tree = parse_ansible_yaml("all:\\n  children:\\n    compute:\\n      hosts:\\n        nc01:\\n",
...                           "inv.yaml")
>>> tree.groups["compute"].hosts
['nc01']
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from engine.errors import InventoryError
from engine.parsers.ansible_hosts import UNGROUPED, AnsibleTree, expand_host_pattern

VAULTED = "<ansible-vault encrypted>"
_GROUP_KEYS = ("hosts", "children", "vars")


class _Loader(yaml.SafeLoader):
    """Safe YAML plus Ansible's own tags."""


def _vault(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return VAULTED


def _unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    return loader.construct_object(node, deep=True)


_Loader.add_constructor("!vault", _vault)
_Loader.add_constructor("!unsafe", _unsafe)


def load_yaml_vars(text: str, source: str) -> dict[str, Any]:
    """A ``group_vars``/``host_vars`` file: a mapping of variables (empty file: none)."""
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InventoryError(f"{source}{_mark(exc)}: not valid YAML ({_problem(exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InventoryError(f"{source}: expected a mapping of variables, got {_kind(data)}")
    return {str(k): v for k, v in data.items()}


def parse_ansible_yaml(text: str, source: str, tree: AnsibleTree | None = None) -> AnsibleTree:
    """``text`` into ``tree`` (the inventory so far), or into a new, finished tree."""
    own = tree is None
    tree = AnsibleTree() if tree is None else tree
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise InventoryError(f"{source}: the inventory is empty")
        if not isinstance(root, yaml.MappingNode):
            raise InventoryError(
                f"{_where(source, root)}: the top level of a YAML inventory maps group "
                f"names (usually 'all') to groups"
            )
        for knode, vnode in _entries(loader, root, source):
            name = _name(knode, source)
            if name == "plugin":
                plugin = loader.construct_object(vnode, deep=True)
                raise InventoryError(
                    f"{_where(source, knode)}: a dynamic inventory plugin config "
                    f"(plugin: {plugin}); make it static with "
                    f"`ansible-inventory -i {source} --list > inventory.json` and use that"
                )
            _group(loader, tree, name, vnode, source, None)
        if own:
            tree.finish()
        return tree
    except yaml.YAMLError as exc:
        raise InventoryError(f"{source}{_mark(exc)}: not valid YAML ({_problem(exc)})") from None
    finally:
        loader.dispose()


def _group(
    loader: _Loader,
    tree: AnsibleTree,
    name: str,
    node: yaml.Node,
    source: str,
    parent: str | None,
) -> None:
    where = _where(source, node)
    group = tree.group(name, where)
    if parent is not None:
        tree.add_child(parent, name, where)
    if _is_null(node):
        return
    if not isinstance(node, yaml.MappingNode):
        raise InventoryError(
            f"{where}: group {name!r} must be a mapping with hosts, children or vars, "
            f"got {_node_kind(node)}"
        )
    for knode, vnode in _entries(loader, node, source):
        key = _name(knode, source)
        if key not in _GROUP_KEYS:
            raise InventoryError(
                f"{_where(source, knode)}: group {name!r} has an unexpected key {key!r} "
                f"(valid: {', '.join(_GROUP_KEYS)})"
            )
        if _is_null(vnode):
            continue
        if isinstance(vnode, yaml.ScalarNode):  # Ansible reads `hosts: web01` as {web01: }
            vnode = yaml.MappingNode(
                "tag:yaml.org,2002:map",
                [(vnode, yaml.ScalarNode("tag:yaml.org,2002:null", "", vnode.start_mark))],
                vnode.start_mark,
                vnode.end_mark,
            )
        if key == "vars":
            where_vars = _where(source, vnode)
            for var, value in _mapping(loader, vnode, source, f"group {name!r}: vars").items():
                group.set_var(var, value, where_vars)
            continue
        if not isinstance(vnode, yaml.MappingNode):
            what = "host names to their variables" if key == "hosts" else "group names to groups"
            raise InventoryError(
                f"{_where(source, vnode)}: group {name!r}: {key} must be a mapping of {what}, "
                f"got {_node_kind(vnode)}"
            )
        for inner_key, inner in _entries(loader, vnode, source):
            inner_name = _name(inner_key, source)
            if key == "children":
                _group(loader, tree, inner_name, inner, source, name)
                continue
            host_where = _where(source, inner_key)
            host_vars = _mapping(loader, inner, source, f"host {inner_name!r}")
            try:
                expanded = expand_host_pattern(inner_name)
            except ValueError as exc:
                raise InventoryError(f"{host_where}: {exc}") from None
            for host, port in expanded:
                tree.add_host(name, host, dict(host_vars), host_where, port)


def _entries(
    loader: _Loader, node: yaml.MappingNode, source: str
) -> list[tuple[yaml.Node, yaml.Node]]:
    """A mapping's (key, value) nodes as Ansible's loader sees them: merge keys
    (``<<: *anchor``) expanded, and a repeated key replaced by its last value."""
    try:
        loader.flatten_mapping(node)
    except yaml.MarkedYAMLError as exc:
        raise InventoryError(f"{source}{_mark(exc)}: not valid YAML ({_problem(exc)})") from None
    last: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for knode, vnode in node.value:
        last[_name(knode, source)] = (knode, vnode)
    return list(last.values())


def _mapping(loader: _Loader, node: yaml.Node, source: str, what: str) -> dict[str, Any]:
    value = loader.construct_object(node, deep=True)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InventoryError(
            f"{_where(source, node)}: {what} must be a mapping of variables, got {_kind(value)}"
        )
    return {str(k): v for k, v in value.items()}


def parse_ansible_json(text: str, source: str, into: AnsibleTree | None = None) -> AnsibleTree:
    """The script format (``_meta.hostvars``, groups with host lists); ``into``: the
    inventory directory so far, which this file joins."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InventoryError(f"{source}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise InventoryError(f"{source}: a JSON inventory is an object of groups")
    if not is_script_format(data):
        return parse_ansible_yaml(text, source, into)  # the YAML shape written as JSON
    tree = AnsibleTree()
    meta = data.get("_meta") or {}
    hostvars = meta.get("hostvars") or {} if isinstance(meta, dict) else {}
    if not isinstance(hostvars, dict):
        raise InventoryError(f"{source}: _meta.hostvars must be an object")
    for name, value in data.items():
        if name == "_meta":
            continue
        where = f"{source}: group {name!r}"
        group = tree.group(name, source)
        if isinstance(value, list):
            value = {"hosts": value}
        if not isinstance(value, dict):
            raise InventoryError(f"{where}: expected an object or a list of hosts")
        hosts, children, group_vars = (
            value.get("hosts") or [],
            value.get("children") or [],
            value.get("vars") or {},
        )
        if not isinstance(hosts, list) or not isinstance(children, list):
            raise InventoryError(f"{where}: hosts and children must be lists of names")
        if not isinstance(group_vars, dict):
            raise InventoryError(f"{where}: vars must be an object")
        group.vars.update(group_vars)
        for host in hosts:
            tree.add_host(name, str(host), {}, source)
        for child in children:
            tree.add_child(name, str(child), source)
    for host, host_vars in hostvars.items():
        if not isinstance(host_vars, dict):
            raise InventoryError(f"{source}: _meta.hostvars.{host} must be an object")
        if host in tree.hosts:
            tree.hosts[host].vars.update(host_vars)
        else:
            tree.add_host(UNGROUPED, str(host), dict(host_vars), source)
    tree.finish()
    if into is not None:
        into.merge(tree)
        return into
    return tree


def is_script_format(data: dict[str, Any]) -> bool:
    if "_meta" in data:
        return True
    return any(
        isinstance(v, list)
        or (isinstance(v, dict) and any(isinstance(v.get(k), list) for k in ("hosts", "children")))
        for v in data.values()
    )


def _name(node: yaml.Node, source: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
        raise InventoryError(f"{_where(source, node)}: expected a name, got {_node_kind(node)}")
    return str(node.value)


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _where(source: str, node: yaml.Node) -> str:
    return f"{source}:{node.start_mark.line + 1}"


def _node_kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    return f"{node.value!r}" if node.value != "" else "an empty value"


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    return f"{value!r}"


def _mark(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f":{mark.line + 1}" if mark is not None else ""


def _problem(exc: yaml.YAMLError) -> str:
    return str(getattr(exc, "problem", None) or exc).strip()
