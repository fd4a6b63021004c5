"""Safe query templates: choices from an allow-list, optional fragments, values always bound (PG-6).

A `.sql` file becomes a template when it contains a `{{ ... }}` tag. Three things may vary:

* `{{ sort: id | username | created => created_at }}`: a *choice*. The caller names one key
  (`sort="created"`) and the SQL written after `=>` in the file (or the key itself) is inserted.
  Every piece of SQL text therefore comes from the file; a caller only selects among them.
* `{{ if status }} ... {{ end }}`: an *optional fragment*, kept when `status` is not None.
* `@status`: a *value*, always sent as a `$n` parameter; the same name reuses its `$n`.

Nothing else can be interpolated: `{{ status }}` (a value without an allow-list) is refused when
the file is loaded, and a choice outside its allow-list is refused when the template is rendered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ._errors import TemplateError
from ._query import Query, QueryKind
from ._session import not_a_pure_read, session_effects
from ._sqltext import Tok, Token, shape, tokens

if TYPE_CHECKING:
    from collections.abc import Mapping


class TemplateSyntaxError(ValueError):
    """A template tag is malformed; carries the line for the loader's problem list."""

    def __init__(self, message: str, line: int) -> None:
        self.line = line
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class _Choice:
    slot: str
    options: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class _Bind:
    name: str


@dataclass(frozen=True, slots=True)
class _Optional:
    name: str
    body: tuple[_Node, ...]


_Node = str | _Choice | _Bind | _Optional

_IF: Final = re.compile(r"if\s+([A-Za-z_][A-Za-z0-9_]*)")
_CHOICE: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*:(.*)", re.DOTALL)
_BARE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY: Final = re.compile(r"[A-Za-z0-9_]+")
# SQL after `=>` is the author's, but it must stay one harmless fragment: no literal, no
# comment, no statement end, no placeholder and nothing that looks like another tag.
_UNSAFE_SQL: Final = re.compile(r"""['";$@{}]|--|/\*""")


class Template:
    """A query whose text varies by allow-listed choices and optional fragments (PG-6, PG-10).

    `render(**params)` returns a ready `Query` and its arguments; each distinct variant is built
    once and cached, so the driver's statement cache and the row-mapping cache both apply.
    """

    __slots__ = (
        "_cache",
        "_nodes",
        "binds",
        "kind",
        "model",
        "name",
        "operation",
        "slots",
        "source",
        "standby",
        "switches",
    )

    def __init__(
        self,
        *,
        name: str,
        model: str,
        operation: str,
        kind: QueryKind,
        source: str,
        pieces: list[Token],
        standby: bool = False,
    ) -> None:
        self.name = name
        self.model = model
        self.operation = operation
        self.kind = kind
        self.source = source
        self.standby = standby
        """Whether the file declares `-- route: standby` (each variant must be a plain read)."""
        nodes, slots, binds, switches = _parse(pieces)
        self._nodes = nodes
        self.slots: Mapping[str, frozenset[str]] = slots
        """Each choice and its allowed keys."""
        self.binds: frozenset[str] = binds
        """The names bound as values with `@name`."""
        self.switches: frozenset[str] = switches
        """The names that turn optional fragments on (when not None)."""
        self._cache: dict[tuple[object, ...], tuple[Query, tuple[str, ...]]] = {}

    def __repr__(self) -> str:
        return f"<Template {self.name} {self.kind} from {self.source}>"

    @property
    def parameters(self) -> frozenset[str]:
        """Every keyword `render` requires."""
        return frozenset(self.slots) | self.binds | self.switches

    def render(self, **params: object) -> tuple[Query, tuple[object, ...]]:
        """Return the query for these choices and switches, and its `$1..$n` arguments in order.

        Every parameter must be given (None turns a fragment off). Choices must be one of their
        allowed keys; values are never put into the text.

        Raises:
            TemplateError: a missing or unknown parameter, or a choice outside its allow-list.
        """
        expected = self.parameters
        if params.keys() != expected:
            missing = sorted(expected - params.keys())
            unknown = sorted(params.keys() - expected)
            raise TemplateError(
                f"{self.name}: missing parameter(s) {missing}, unknown parameter(s) {unknown}",
                query=self.name,
            )
        choices = []
        for slot in sorted(self.slots):
            value = params[slot]
            if not isinstance(value, str) or value not in self.slots[slot]:
                allowed = ", ".join(sorted(self.slots[slot]))
                raise TemplateError(
                    f"{self.name}: {slot!r} is not one of its allowed choices ({allowed}); "
                    "values are bound with @name, never interpolated (PG-6)",
                    query=self.name,
                )
            choices.append(value)
        on = frozenset(name for name in self.switches if params[name] is not None)
        key = (*choices, on)
        variant = self._cache.get(key)
        if variant is None:
            variant = self._cache[key] = self._build(params, on)
        query, names = variant
        return query, tuple(params[name] for name in names)

    def _build(
        self, params: Mapping[str, object], on: frozenset[str]
    ) -> tuple[Query, tuple[str, ...]]:
        parts: list[str] = []
        names: list[str] = []
        _emit(self._nodes, params, on, parts, names)
        sql = "".join(parts).strip()
        query_shape = shape(list(tokens(sql)))
        if self.standby:
            why = not_a_pure_read(sql)
            if why is not None:
                raise TemplateError(
                    f"{self.name}: `-- route: standby` on a variant that {why}", query=self.name
                )
        query = Query(
            name=self.name,
            model=self.model,
            operation=self.operation,
            kind=self.kind,
            sql=sql,
            source=self.source,
            parameters=len(names),
            verb=query_shape.verb,
            session_effects=session_effects(sql),
            standby=self.standby,
        )
        return query, tuple(names)


def _emit(
    nodes: tuple[_Node, ...],
    params: Mapping[str, object],
    on: frozenset[str],
    parts: list[str],
    names: list[str],
) -> None:
    for node in nodes:
        if isinstance(node, str):
            parts.append(node)
        elif isinstance(node, _Bind):
            if node.name not in names:
                names.append(node.name)
            parts.append(f"${names.index(node.name) + 1}")
        elif isinstance(node, _Choice):
            parts.append(node.options[str(params[node.slot])])
        elif node.name in on:
            _emit(node.body, params, on, parts, names)


def _parse(  # noqa: C901, PLR0912  (one pass over the tokens, with a stack for nested fragments)
    pieces: list[Token],
) -> tuple[tuple[_Node, ...], dict[str, frozenset[str]], frozenset[str], frozenset[str]]:
    stack: list[tuple[str, int, list[_Node]]] = [("", 0, [])]
    slots: dict[str, frozenset[str]] = {}
    binds: set[str] = set()
    switches: set[str] = set()
    for token in pieces:
        body = stack[-1][2]
        if token.kind is Tok.PLACEHOLDER:
            raise TemplateSyntaxError(
                f"positional {token.text} in a template; bind values by name with @name",
                token.line,
            )
        if token.kind is Tok.BIND:
            binds.add(token.text[1:])
            body.append(_Bind(token.text[1:]))
        elif token.kind is not Tok.TAG:
            body.append(token.text)
        else:
            inner = token.text[2:-2].strip()
            if inner == "end":
                if len(stack) == 1:
                    raise TemplateSyntaxError("{{ end }} without {{ if }}", token.line)
                name, _, nested = stack.pop()
                stack[-1][2].append(_Optional(name, tuple(nested)))
            elif match := _IF.fullmatch(inner):
                switches.add(match.group(1))
                stack.append((match.group(1), token.line, []))
            elif match := _CHOICE.fullmatch(inner):
                choice = _choice(match.group(1), match.group(2), token.line)
                known = slots.setdefault(choice.slot, frozenset(choice.options))
                if known != frozenset(choice.options):
                    raise TemplateSyntaxError(
                        f"choice {choice.slot!r} lists other keys than its first use", token.line
                    )
                body.append(choice)
            elif _BARE.fullmatch(inner):
                raise TemplateSyntaxError(
                    f"{{{{ {inner} }}}} would interpolate a value: bind it with @{inner}, "
                    f"or give an allow-list `{{{{ {inner}: a | b }}}}` (PG-6)",
                    token.line,
                )
            else:
                raise TemplateSyntaxError(f"unknown template tag {{{{ {inner} }}}}", token.line)
    if len(stack) > 1:
        raise TemplateSyntaxError(f"{{{{ if {stack[-1][0]} }}}} is never closed", stack[-1][1])
    clash = (binds | switches) & slots.keys()
    if clash:
        raise TemplateSyntaxError(f"{sorted(clash)} used both as a choice and a value", 1)
    return tuple(stack[0][2]), slots, frozenset(binds), frozenset(switches)


def _choice(slot: str, spec: str, line: int) -> _Choice:
    options: dict[str, str] = {}
    for raw in spec.split("|"):
        key, arrow, sql = (part.strip() for part in raw.partition("=>"))
        if not _KEY.fullmatch(key):
            raise TemplateSyntaxError(f"choice {slot!r}: key {key!r} is not a word", line)
        if not arrow:
            if not _BARE.fullmatch(key):
                raise TemplateSyntaxError(
                    f"choice {slot!r}: {key!r} needs `=> <sql>` to be inserted", line
                )
            sql = key
        if not sql or _UNSAFE_SQL.search(sql):
            raise TemplateSyntaxError(
                f"choice {slot!r}: the SQL for {key!r} must be a plain fragment "
                "(no quotes, comments, ';', '$', '@' or braces)",
                line,
            )
        if key in options:
            raise TemplateSyntaxError(f"choice {slot!r}: key {key!r} appears twice", line)
        options[key] = sql
    return _Choice(slot, options)
