"""What every Ansible inventory format parses into: groups, hosts and their variables.

``AnsibleTree`` is filled by the INI, YAML and JSON readers (``ansible_ini.py``,
``ansible_yaml.py``) and read by ``engine/remote/ansible_inventory.py``, which applies
Ansible's variable precedence and turns hosts into cloudtales ``Host`` entries.

Host patterns follow Ansible: ``compute[01:03].example.net`` (zero-padded, equal width),
``node[a:c]``, ``web[1:9:2]`` (a stride), several ranges in one name, and a trailing
``:port`` (``db.example.net:2222``; an IPv6 address keeps its colons).

>>> expand_host_pattern("compute[01:03].example.net")
[('compute01.example.net', None), ('compute02.example.net', None), ('compute03.example.net', None)]
>>> expand_host_pattern("db[a:b]:2222")
[('dba', 2222), ('dbb', 2222)]
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any

from engine.errors import InventoryError

ALL = "all"
UNGROUPED = "ungrouped"
MAX_EXPANDED_HOSTS = 10_000
PRIORITY_VAR = "ansible_group_priority"


@dataclass
class AnsibleGroup:
    name: str
    where: str  # file:line where it first appeared
    vars: dict[str, Any] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    priority: int = 1  # ansible_group_priority: a setting of the group, not a variable

    def set_var(self, key: str, value: Any, where: str) -> None:
        """One inventory variable of the group, as Ansible's ``Group.set_variable``."""
        if key != PRIORITY_VAR:
            self.vars[key] = value
            return
        try:
            self.priority = int(value)
        except (TypeError, ValueError):
            raise InventoryError(
                f"{where}: group {self.name!r}: {PRIORITY_VAR} {value!r} is not a whole number"
            ) from None


@dataclass
class AnsibleHost:
    name: str
    where: str
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class AnsibleTree:
    """Groups and hosts as the inventory declares them (no precedence applied yet)."""

    groups: dict[str, AnsibleGroup] = field(default_factory=dict)
    hosts: dict[str, AnsibleHost] = field(default_factory=dict)

    def group(self, name: str, where: str) -> AnsibleGroup:
        found = self.groups.get(name)
        if found is None:
            found = self.groups[name] = AnsibleGroup(name, where)
        return found

    def add_child(self, parent: str, child: str, where: str) -> None:
        if parent == child:
            raise InventoryError(f"{where}: group {parent!r} cannot be its own child")
        p = self.group(parent, where)
        self.group(child, where)
        if child not in p.children:
            p.children.append(child)

    def add_host(
        self,
        group: str,
        name: str,
        host_vars: dict[str, Any],
        where: str,
        port: int | None = None,
    ) -> None:
        """As Ansible's ``InventoryData.add_host``: a ``:port`` counts only where the host
        first appears (a later ``host:other-port`` is ignored); its variables then apply."""
        g = self.group(group, where)
        if name not in g.hosts:
            g.hosts.append(name)
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = AnsibleHost(name, where)
            if port is not None:
                host.vars["ansible_port"] = port
        host.vars.update(host_vars)

    def merge(self, other: AnsibleTree) -> None:
        """Add ``other`` (a script-format JSON file of an inventory directory) into this tree."""
        for g in other.groups.values():
            mine = self.group(g.name, g.where)
            mine.vars.update(g.vars)
            mine.priority = g.priority if g.priority != 1 else mine.priority
            mine.children += [c for c in g.children if c not in mine.children]
            mine.hosts += [h for h in g.hosts if h not in mine.hosts]
        for h in other.hosts.values():
            if h.name in self.hosts:
                self.hosts[h.name].vars.update(h.vars)
            else:
                self.hosts[h.name] = AnsibleHost(h.name, h.where, dict(h.vars))

    def finish(self) -> None:
        """Close the tree as Ansible does: every group under ``all``, loose hosts in
        ``ungrouped``, no group its own ancestor."""
        first = next(iter(self.groups.values()), None)
        where = first.where if first else ""
        root = self.group(ALL, where)
        self.group(UNGROUPED, where)
        has_parent = {c for g in self.groups.values() for c in g.children}
        for name in list(self.groups):
            if name != ALL and name not in has_parent and name not in root.children:
                root.children.append(name)
        self._check_cycles()
        # as Ansible's reconcile_inventory: a host in any real group leaves ``ungrouped``
        # (and so do ``[ungrouped:vars]``); a host in no group (or only ``all``) joins it
        loose = self.groups[UNGROUPED]
        grouped = {
            h for g in self.groups.values() if g.name not in (ALL, UNGROUPED) for h in g.hosts
        }
        loose.hosts = [h for h in loose.hosts if h not in grouped]
        loose.hosts += [h for h in self.hosts if h not in grouped and h not in loose.hosts]

    def _check_cycles(self) -> None:
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done

        def visit(name: str, path: list[str]) -> None:
            state[name] = 1
            for child in self.groups[name].children:
                if state.get(child) == 1:
                    loop = " -> ".join([*path[path.index(child) :], child])
                    raise InventoryError(
                        f"{self.groups[child].where}: group {child!r} is its own ancestor ({loop})"
                    )
                if child not in state:
                    visit(child, [*path, child])
            state[name] = 2

        for name in self.groups:
            if name not in state:
                visit(name, [name])

    def order(self, groups: set[str]) -> list[str]:
        """Ansible's ``sort_groups``: by depth, then ``ansible_group_priority``, then name."""
        depth = self.depth()
        return sorted(groups, key=lambda g: (depth[g], self.groups[g].priority, g))

    def depth(self) -> dict[str, int]:
        """Each group's distance from ``all`` (the longest one, as Ansible orders vars)."""
        depth: dict[str, int] = {}

        def walk(name: str, d: int) -> None:
            if depth.get(name, -1) >= d:
                return
            depth[name] = d
            for child in self.groups[name].children:
                walk(child, d + 1)

        walk(ALL, 0)
        for name in self.groups:
            depth.setdefault(name, 1)
        return depth

    def host_groups(self, host: str) -> set[str]:
        """Every group ``host`` belongs to, directly or through a parent group."""
        parents: dict[str, set[str]] = {}
        for g in self.groups.values():
            for c in g.children:
                parents.setdefault(c, set()).add(g.name)
        found: set[str] = set()
        todo = [g.name for g in self.groups.values() if host in g.hosts]
        while todo:
            name = todo.pop()
            if name in found:
                continue
            found.add(name)
            todo += parents.get(name, ())
        found.add(ALL)
        return found


def no_tuples(value: Any) -> Any:
    """Tuples (``1,2`` in INI) as the lists Ansible's JSON and templates see."""
    if isinstance(value, tuple | list):
        return [no_tuples(v) for v in value]
    if isinstance(value, dict):
        return {k: no_tuples(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- host patterns


def expand_host_pattern(pattern: str) -> list[tuple[str, int | None]]:
    """``pattern`` -> [(host name, port or None)]; a bad pattern raises ValueError."""
    name, port = split_port(pattern)
    if not name:
        raise ValueError(f"empty host name in {pattern!r}")
    names = _expand_ranges(name)
    if len(names) > MAX_EXPANDED_HOSTS:
        raise ValueError(f"host range {pattern!r} expands to more than {MAX_EXPANDED_HOSTS} hosts")
    return [(n, port) for n in names]


def split_port(pattern: str) -> tuple[str, int | None]:
    """``host:port`` -> (host, port); IPv6 (``::1``, ``[::1]:22``) and ranges stay intact."""
    if pattern.startswith("[") and "]:" in pattern and ":" in pattern[1 : pattern.index("]")]:
        addr, _, port = pattern[1:].partition("]:")  # [IPv6]:port
        return addr, _port(port, pattern)
    depth, colons = 0, []
    for i, ch in enumerate(pattern):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == ":" and depth == 0:
            colons.append(i)
    if len(colons) != 1:  # none, or a bare IPv6 address
        return pattern, None
    cut = colons[0]
    return pattern[:cut], _port(pattern[cut + 1 :], pattern)


def _port(text: str, pattern: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"bad port {text!r} in host {pattern!r}")
    return int(text)


def _expand_ranges(name: str) -> list[str]:
    start = name.find("[")
    if start < 0:
        if "]" in name:
            raise ValueError(f"unbalanced ']' in host {name!r}")
        return [name]
    end = name.find("]", start)
    if end < 0:
        raise ValueError(f"unclosed '[' in host {name!r}")
    head, spec, tail = name[:start], name[start + 1 : end], name[end + 1 :]
    return [
        head + item + rest for item in _range_items(spec, name) for rest in _expand_ranges(tail)
    ]


def _range_items(spec: str, name: str) -> list[str]:
    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"host range [{spec}] in {name!r} is not [start:end] or [start:end:step]")
    beg, end = parts[0] or "0", parts[1]
    step_text = parts[2] if len(parts) == 3 else "1"
    if not end:
        raise ValueError(f"host range [{spec}] in {name!r} has no end")
    if not step_text.isdigit() or int(step_text) == 0:
        raise ValueError(f"host range [{spec}] in {name!r}: step must be a positive number")
    step = int(step_text)
    letters = string.ascii_letters
    if len(beg) == 1 and len(end) == 1 and beg in letters and end in letters:
        if letters.index(beg) > letters.index(end):
            raise ValueError(f"host range [{spec}] in {name!r} must have start <= end")
        return list(letters[letters.index(beg) : letters.index(end) + 1 : step])
    if not (beg.isdigit() and end.isdigit()):
        raise ValueError(f"host range [{spec}] in {name!r} mixes letters and numbers")
    width = len(beg) if beg.startswith("0") and len(beg) > 1 else 0
    if width and len(end) != width:
        raise ValueError(f"host range [{spec}] in {name!r}: zero-padded ends need equal widths")
    if int(beg) > int(end):
        raise ValueError(f"host range [{spec}] in {name!r} must have start <= end")
    return [str(i).zfill(width) for i in range(int(beg), int(end) + 1, step)]
