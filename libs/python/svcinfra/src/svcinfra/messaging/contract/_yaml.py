"""Contracts read as YAML 1.2, the way the official AsyncAPI parser reads them (MQ-1).

PyYAML resolves plain scalars by YAML 1.1: `on`, `yes` and `off` are booleans, `2024-01-01` is a
date, `017` is octal, and a duplicate key silently keeps the last value. The official parser
(`@stoplight/yaml`, the YAML 1.2 core schema) reads `on` and `2024-01-01` as strings and refuses
duplicate keys and keys that are not strings. So PyYAML only composes the node tree here (its
scanner and parser: syntax, anchors, aliases) and this module builds the values itself:

* a plain scalar is null (`null`, `Null`, `NULL`, `~`, empty), a boolean (`true`, `True`,
  `TRUE`, `false`, ...), an integer (`[-+]?[0-9]+`, `0o17`, `0x1F`), a float (`1.5`, `1e3`,
  `.inf`, `.nan`) or else a string; a quoted or block scalar is always a string;
* a mapping key must be a string (`404:` and `true:` are refused, `"404":` is fine), and
  appear once per mapping; `<<` merges mappings as PyYAML does;
* the explicit tags of the core schema (`!!str`, `!!int`, `!!float`, `!!bool`, `!!null`,
  `!!map`, `!!seq`) are honoured; any other tag is refused;
* an alias is the same value as its anchor (shared, so an alias bomb costs nothing); an alias
  of a collection inside itself is refused.

Every problem is a `ContractProblem` at the JSON path of the offending node, with its line.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from svcinfra.messaging._errors import ContractProblem

from ._paths import json_path

if TYPE_CHECKING:
    from collections.abc import Hashable

_PLAIN = "tag:svcinfra:plain"  # an untagged plain scalar, resolved here by the core schema
_CORE = "tag:yaml.org,2002:"
_NULLS = frozenset({"null", "Null", "NULL", "~", ""})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_INT10 = re.compile(r"[-+]?[0-9]+\Z")
_INT8 = re.compile(r"0o[0-7]+\Z")
_INT16 = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"([-+])?(\.inf|\.Inf|\.INF)\Z")
_NANS = frozenset({".nan", ".NaN", ".NAN"})

Path = tuple[str | int, ...]


class _Composer(yaml.SafeLoader):
    """PyYAML's safe scanner, parser and composer; plain scalars keep a marker tag."""

    def resolve(self, kind: type[Node], value: Any, implicit: Any) -> str:  # noqa: ANN401
        if kind is ScalarNode and implicit[0]:
            return _PLAIN
        return str(super().resolve(kind, value, implicit))  # type: ignore[no-untyped-call]


class YamlProblem(Exception):  # noqa: N818  (carried out of the recursion, then reported)
    """A node that does not make a JSON value: where, and why."""

    def __init__(self, path: Path, node: Node, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.line = node.start_mark.line + 1

    def problem(self) -> ContractProblem:
        """This problem as a contract problem (rule MQ-1: the contract must be readable)."""
        return ContractProblem(json_path(*self.path), f"{self.args[0]} (line {self.line})", "MQ-1")


def load_yaml(text: str) -> tuple[Any, list[ContractProblem]]:
    """Return the JSON value of a YAML 1.2 (or JSON) document, or None and the problems."""
    try:
        node = yaml.compose(text, Loader=_Composer)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or type(exc).__name__
        return None, [ContractProblem("$", f"is not valid YAML{where}: {reason}", "MQ-1")]
    if node is None:
        return None, []
    builder = _Builder()
    value = builder.value(node, ())
    return (None, builder.problems) if builder.problems else (value, [])


class _Builder:
    """Turns a composed node tree into JSON values, following the YAML 1.2 core schema.

    Every problem is recorded and the build goes on (the node becomes None), so one run reports
    every duplicate key and every key that is not a string, as the official parser does.
    """

    def __init__(self) -> None:
        self.built: dict[int, Any] = {}  # id(node) -> value: aliases share their anchor's value
        self.open: set[int] = set()  # collections being built: an alias to one is a cycle
        self.problems: list[ContractProblem] = []

    def value(self, node: Node, path: Path) -> Any:  # noqa: ANN401  (any JSON)
        try:
            return self.build(node, path)
        except YamlProblem as exc:
            self.problems.append(exc.problem())
            return None

    def build(self, node: Node, path: Path) -> Any:  # noqa: ANN401  (any JSON)
        key = id(node)
        if key in self.built:
            return self.built[key]
        if key in self.open:
            raise YamlProblem(path, node, "an alias refers to a collection that contains it")
        value: Any
        if isinstance(node, ScalarNode):
            value = _scalar(node, path)
        else:
            self.open.add(key)
            try:
                value = (
                    self.mapping(node, path)
                    if isinstance(node, MappingNode)
                    else self.sequence(node, path)
                )
            finally:
                self.open.discard(key)
        self.built[key] = value
        return value

    def sequence(self, node: Node, path: Path) -> list[Any]:
        if node.tag != f"{_CORE}seq":
            raise YamlProblem(path, node, f"tag {node.tag!r} is not supported here")
        return [self.value(item, (*path, index)) for index, item in enumerate(node.value)]

    def mapping(self, node: Node, path: Path) -> dict[str, Any]:
        if not isinstance(node, MappingNode) or node.tag != f"{_CORE}map":
            raise YamlProblem(path, node, f"tag {node.tag!r} is not supported here")
        merged: dict[str, Any] = {}
        own: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == f"{_CORE}merge" or (
                key_node.tag == _PLAIN and key_node.value == "<<"
            ):
                merged.update(self.merge(value_node, path))
                continue
            try:
                key = _key(key_node, path)
            except YamlProblem as exc:
                self.problems.append(exc.problem())
                continue
            if key in own:
                problem = YamlProblem((*path, key), key_node, f"duplicate key {key!r}")
                self.problems.append(problem.problem())
                continue
            own[key] = self.value(value_node, (*path, key))
        return {**merged, **own}

    def merge(self, node: Node, path: Path) -> dict[str, Any]:
        """The mappings a `<<` key merges (one, or a list of them; earlier ones win)."""
        sources = node.value if isinstance(node, SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in reversed(sources):
            value = self.value(source, (*path, "<<"))
            if not isinstance(value, dict):
                raise YamlProblem((*path, "<<"), source, "`<<` merges mappings only")
            merged.update(value)
        return merged


def _key(node: Node, path: Path) -> str:
    """A mapping key: a string scalar, as in JSON (the official parser refuses others)."""
    if not isinstance(node, ScalarNode):
        raise YamlProblem(path, node, "a mapping key must be a string, not a collection")
    value = _scalar(node, path)
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        raise YamlProblem(
            (*path, node.value),
            node,
            f"mapping key {node.value!r} is a {kind} in YAML 1.2, not a string; quote it",
        )
    return value


def _scalar(node: Node, path: Path) -> Hashable:
    text: str = node.value
    tag = node.tag
    if tag == _PLAIN:
        return _plain(text)
    if tag == f"{_CORE}str":
        return text
    if tag == f"{_CORE}null" and text in _NULLS:
        return None
    if tag == f"{_CORE}bool" and text in _TRUE | _FALSE:
        return text in _TRUE
    if tag == f"{_CORE}int" and (_INT10.match(text) or _INT8.match(text) or _INT16.match(text)):
        return _plain(text)
    if tag == f"{_CORE}float":
        value = _plain(text)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    if tag.startswith(_CORE) and tag[len(_CORE) :] in {"null", "bool", "int", "float"}:
        raise YamlProblem(path, node, f"{text!r} is not a valid !!{tag[len(_CORE) :]}")
    raise YamlProblem(path, node, f"tag {tag!r} is not supported (YAML 1.2 core schema only)")


def _plain(text: str) -> Hashable:  # noqa: PLR0911  (one return per scalar kind)
    """The value of an untagged plain scalar under the YAML 1.2 core schema."""
    if text in _NULLS:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _INT10.match(text):
        return int(text, 10)
    if _INT8.match(text):
        return int(text, 0)  # 0o17
    if _INT16.match(text):
        return int(text, 0)  # 0x1F
    if text in _NANS:
        return math.nan
    infinity = _INF.match(text)
    if infinity:
        return -math.inf if infinity.group(1) == "-" else math.inf
    if _FLOAT.match(text):
        return float(text)
    return text
