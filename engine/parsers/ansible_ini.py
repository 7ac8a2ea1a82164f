"""Read an Ansible INI inventory into an ``AnsibleTree``, as Ansible's ``ini`` plugin does.

Sections are ``[group]`` (host lines; a line that starts with ``[`` but is no section
header, like ``[2001:db8::20]:2223``, is a host line), ``[group:vars]`` (``key=value`` lines) and
``[group:children]`` (one group name a line); host lines before any section belong to
``ungrouped``. A host line is ``PATTERN key=value ...`` split like a shell line (quotes
work, ``#`` starts a comment). Values become Python literals where they parse as one
(``2222`` -> int, ``True`` -> bool, ``['a']`` -> list), else stay strings, as in Ansible.
A ``[g:vars]`` section needs ``g`` declared somewhere, and a ``[p:children]`` entry
needs its child declared: both are checked at the end, like Ansible does.

>>> tree = parse_ansible_ini("[compute]\\nnc[1:2] ansible_user=ops\\n", "hosts")
>>> sorted(tree.hosts), tree.hosts["nc1"].vars
(['nc1', 'nc2'], {'ansible_user': 'ops'})
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from typing import Any

from engine.errors import InventoryError
from engine.parsers.ansible_hosts import (
    ALL,
    UNGROUPED,
    AnsibleTree,
    expand_host_pattern,
    no_tuples,
)

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")
_STATES = ("hosts", "vars", "children")


def parse_value(text: str) -> Any:
    """An INI value as Ansible reads it: a Python literal if it is one, else the text."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            return no_tuples(ast.literal_eval(text))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_ansible_ini(text: str, source: str, tree: AnsibleTree | None = None) -> AnsibleTree:
    """``text`` into ``tree`` (the inventory so far: earlier files of an inventory
    directory declare groups this file may use), or into a new, finished tree."""
    own = tree is None
    tree = AnsibleTree() if tree is None else tree
    group, state = UNGROUPED, "hosts"
    known: set[str] = {ALL, UNGROUPED, *tree.groups}  # Ansible declares these two itself
    pending: dict[str, tuple[str, str, str]] = {}  # group -> (state, where, parent)
    for lineno, raw in enumerate(text.splitlines(), 1):
        where = f"{source}:{lineno}"
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if _SECTION.match(line) or (line.startswith("[") and line.endswith("]")):
            group, state = _section(line, where)
            if group not in known:
                if state == "vars" and group not in pending:
                    pending[group] = ("vars", where, group)
                known.add(group)
                tree.group(group, where)
            if state != "vars" and group in pending:
                del pending[group]
            continue
        if state == "hosts":
            _host_line(tree, group, line, where)
        elif state == "vars":
            key, value = _var_line(line, where)
            tree.group(group, where).set_var(key, value, where)
        else:
            child = _child_line(line, where)
            if child not in known and child not in pending:
                pending[child] = ("children", where, group)
            tree.add_child(group, child, where)
    for name, (kind, where, parent) in pending.items():
        if kind == "vars":
            raise InventoryError(
                f"{where}: section [{name}:vars] is for a group declared nowhere "
                f"(add a [{name}] or [{name}:children] section)"
            )
        raise InventoryError(
            f"{where}: [{parent}:children] names group {name!r}, which is declared nowhere"
        )
    if own:
        tree.finish()
    return tree


def _section(line: str, where: str) -> tuple[str, str]:
    m = _SECTION.match(line)
    if m is None:
        raise InventoryError(
            f"{where}: malformed section header {line!r} "
            "(expected [group], [group:vars] or [group:children], no spaces)"
        )
    name, state = m.group(1), m.group(2) or "hosts"
    if state not in _STATES:
        raise InventoryError(
            f"{where}: section [{name}:{state}] has an unknown type {state!r} "
            "(use :vars or :children)"
        )
    return name, state


def _host_line(tree: AnsibleTree, group: str, line: str, where: str) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise InventoryError(f"{where}: cannot split host line ({exc})") from None
    if not tokens:
        return
    host_vars: dict[str, Any] = {}
    for token in tokens[1:]:
        key, eq, value = token.partition("=")
        if not eq or not key:
            raise InventoryError(
                f"{where}: expected key=value after host {tokens[0]!r}, got {token!r}"
            )
        host_vars[key] = parse_value(value)
    if line.startswith("[") and "]" not in line:
        _section(line, where)  # a section header without its ']': that error
    try:
        expanded = expand_host_pattern(tokens[0])
    except ValueError as exc:
        raise InventoryError(f"{where}: {exc}") from None
    for name, port in expanded:
        tree.add_host(group, name, dict(host_vars), where, port)


def _var_line(line: str, where: str) -> tuple[str, Any]:
    key, eq, value = line.partition("=")
    key = key.strip()
    if not eq or not key:
        raise InventoryError(f"{where}: expected key=value in a :vars section, got {line!r}")
    if any(ch.isspace() for ch in key):
        raise InventoryError(f"{where}: variable name {key!r} contains spaces")
    return key, parse_value(value.strip())


def _child_line(line: str, where: str) -> str:
    m = _GROUP_NAME.match(line)
    if m is None:
        raise InventoryError(
            f"{where}: expected one group name in a :children section, got {line!r}"
        )
    return m.group(1)
