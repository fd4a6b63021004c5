"""YAML with line numbers: a JSON path (`$.services[2].name`) back to the line it came from."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from collections.abc import Iterator

_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


def compose(text: str) -> yaml.Node | None:
    """The document's node tree (no values built), or None for an empty or invalid document."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def line_of(root: yaml.Node | None, path: str) -> int:
    """The 1-based line of the node at JSON path `path` (or of its nearest existing parent)."""
    if root is None:
        return 1
    node = root
    for match in _STEP.finditer(path.removeprefix("$")):
        key, index = match.group(1) or match.group(3) or match.group(4), match.group(2)
        child = _child(node, key, index)
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1


def _child(node: yaml.Node, key: str | None, index: str | None) -> yaml.Node | None:
    if index is not None and isinstance(node, yaml.SequenceNode):
        position = int(index)
        return node.value[position] if position < len(node.value) else None
    if key is not None and isinstance(node, yaml.MappingNode):
        for name, value in node.value:
            if isinstance(name, yaml.ScalarNode) and name.value == key:
                return value  # type: ignore[no-any-return]
    return None


def scalars(node: yaml.Node | None, path: str = "$") -> Iterator[tuple[str, str, int]]:
    """Every scalar value of the tree as (JSON path, value, 1-based line)."""
    if isinstance(node, yaml.ScalarNode):
        yield path, str(node.value), int(node.start_mark.line) + 1
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            yield from scalars(item, f"{path}[{position}]")
    elif isinstance(node, yaml.MappingNode):
        for name, value in node.value:
            yield from scalars(value, f"{path}.{name.value}")
