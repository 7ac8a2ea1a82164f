"""Load playbook YAML into models, with errors that name the file, the line and the field."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from engine.errors import PlaybookError
from engine.playbook.model import Playbook

LinePath = tuple[str | int, ...]


@dataclass(frozen=True)
class LoadedPlaybook:
    path: str
    playbook: Playbook
    lines: dict[LinePath, int]

    def line_of(self, *loc: str | int) -> int | None:
        """The line of the deepest known node along ``loc``."""
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.lines:
                return self.lines[loc[:n]]
        return None


def _index_lines(node: yaml.Node, path: LinePath, out: dict[LinePath, int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value if isinstance(key, yaml.ScalarNode) else str(key)
            out[(*path, k)] = key.start_mark.line + 1
            _index_lines(value, (*path, k), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*path, i), out)


class PlaybookYamlLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false, so the key ``on:`` stays "on".

    YAML 1.1 (PyYAML's default) reads on/off/yes/no as booleans, which would turn every
    check's ``on:`` mapping into ``True:``.
    """


PlaybookYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
PlaybookYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def compose_and_load(text: str) -> tuple[yaml.Node | None, Any]:
    """Parse once: the node tree (for line numbers) and the data built from it."""
    loader = PlaybookYamlLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return root, data


def parse_playbook_text(text: str, path: str) -> LoadedPlaybook:
    try:
        root, data = compose_and_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PlaybookError(
            path, mark.line + 1 if mark else None, "", f"invalid YAML: {problem}"
        ) from None
    if root is None or not isinstance(data, dict):
        raise PlaybookError(path, 1, "", "a playbook is a mapping with tale, title, source, ...")
    lines: dict[LinePath, int] = {}
    _index_lines(root, (), lines)
    try:
        playbook = Playbook.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        loaded = LoadedPlaybook(path, Playbook.model_construct(), lines)
        field = _field_name(data, loc)
        raise PlaybookError(path, loaded.line_of(*loc), field, err["msg"]) from None
    return LoadedPlaybook(path, playbook, lines)


def _field_name(data: Any, loc: tuple[str | int, ...]) -> str:
    """checks[2].on -> 'checks[capture].on' when the item has an id, for readability."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            ident = (
                node[item].get("id")
                if isinstance(node, list) and item < len(node) and isinstance(node[item], dict)
                else None
            )
            parts[-1] += f"[{ident or item}]"
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)


def load_playbook(path: str | Path) -> LoadedPlaybook:
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise PlaybookError(str(p), None, "", "file not found") from None
    except UnicodeDecodeError:
        raise PlaybookError(str(p), None, "", "not UTF-8 text") from None
    return parse_playbook_text(text, str(p))
