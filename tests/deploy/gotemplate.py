"""A renderer of the Go text/template subset that services.yaml and the manifests use.

codexctl renders services.yaml and every manifest it lists with Go's text/template and its
own functions (internal/config/config.go, buildFuncMap: default, toLower, slug, truncSHA, envOr,
ternary, now, join, trimPrefix) beside Go's builtins (printf, index, eq, ne, and, or, not, len,
print). No Python package renders Go templates faithfully, so the tests carry this one.

What it covers, with Go's semantics: text and `{{ }}` actions with `{{- ` / ` -}}` trimming
and `{{/* */}}` comments; `$x := pipeline` variables (template scope); pipelines with `|`;
operands: string, raw-string, number and bool literals, `.Field` chains on the context, `$var`,
parenthesised pipelines; `printf` verbs %s %d %v %q %%; `and` / `or` returning an argument,
short-circuit, by Go's truth; `eq` against several values; `index` of a map (missing key: the
zero value). Anything else (if, range, with, define, an unknown function or field) raises
`TemplateError`, so a template that leaves the subset fails its test instead of rendering
something codexctl would not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<raw>`[^`]*`)
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<var>\$[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*|\$)
      | (?P<field>(?:\.[A-Za-z_]\w*)+|\.)
      | (?P<declare>:=)
      | (?P<assign>=)
      | (?P<open>\()
      | (?P<close>\))
      | (?P<pipe>\|)
      | (?P<ident>[A-Za-z_]\w*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = frozenset({"if", "else", "end", "range", "with", "define", "template", "block"})
_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


class TemplateError(Exception):
    """The template leaves the supported subset, or Go would fail executing it."""


@dataclass
class Context:
    """codexctl's TemplateContext, as far as the templates read it, and its environment map."""

    env: str
    namespace: str
    project: str
    slot: int = 0
    versions: Mapping[str, str] = field(default_factory=dict)
    base_domain: Mapping[str, str] = field(default_factory=dict)
    env_map: Mapping[str, str] = field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        """Return the context as Go's template sees it: exported field names."""
        return {
            "Env": self.env,
            "Namespace": self.namespace,
            "Project": self.project,
            "Slot": self.slot,
            "Versions": dict(self.versions),
            "BaseDomain": dict(self.base_domain),
            "EnvMap": dict(self.env_map),
        }


def render(text: str, ctx: Context) -> str:
    """Render `text` as codexctl does for the environment described by `ctx`."""
    return _Renderer(ctx).run(text)


def go_quote(value: str) -> str:
    """Return strconv.Quote(value): Go's %q of a string."""
    out = ['"']
    for char in value:
        if char in {'"', "\\"}:
            out.append("\\" + char)
        elif char in "\a\b\f\n\r\t\v":
            out.append("\\" + next(k for k, v in _GO_ESCAPES.items() if v == char))
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


def _truth(value: object) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, int | float | str | list | dict | tuple):
        return bool(value)
    return True


def _printable(value: object) -> str:
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _printf(fmt: str, *args: object) -> str:
    out: list[str] = []
    values = iter(args)
    i = 0
    while i < len(fmt):
        char = fmt[i]
        if char != "%":
            out.append(char)
            i += 1
            continue
        verb = fmt[i + 1 : i + 2]
        i += 2
        if verb == "%":
            out.append("%")
            continue
        try:
            value = next(values)
        except StopIteration:
            out.append(f"%!{verb}(MISSING)")
            continue
        if verb == "d" and isinstance(value, int) and not isinstance(value, bool):
            out.append(str(value))
        elif verb == "s" and isinstance(value, str):
            out.append(value)
        elif verb == "q" and isinstance(value, str):
            out.append(go_quote(value))
        elif verb == "v":
            out.append(_printable(value))
        else:
            raise TemplateError(f"printf: %{verb} of {type(value).__name__} is outside the subset")
    if next(values, None) is not None:
        raise TemplateError(f"printf {fmt!r}: too many arguments")
    return "".join(out)


def _eq(first: object, *others: object) -> bool:
    if not others:
        raise TemplateError("eq: missing argument for comparison")
    for other in others:
        if type(first) is not type(other):
            raise TemplateError(f"eq: incompatible types {first!r} and {other!r}")
        if first == other:
            return True
    return False


def _ne(first: object, second: object) -> bool:
    return not _eq(first, second)


def _index(container: object, *keys: object) -> object:
    value = container
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key, "")
        elif isinstance(value, list | str) and isinstance(key, int):
            try:
                value = value[key]
            except IndexError as exc:
                raise TemplateError(f"index out of range: {key}") from exc
        else:
            raise TemplateError(f"can't index {value!r} with {key!r}")
    return value


def _ternary(cond: object, a: object, b: object) -> object:
    if not isinstance(cond, bool):
        raise TemplateError(f"ternary: the condition must be a bool, got {cond!r}")
    return a if cond else b


def _slug(value: str) -> str:
    return value.strip().lower().replace(" ", "-").replace("_", "-")


def _default(value: str, fallback: str) -> str:
    return fallback if not value.strip() else value


def _join(values: list[str], sep: str) -> str:
    return sep.join(values)


def _go_string(literal: str) -> str:
    body = literal[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _GO_ESCAPES:
            out.append(_GO_ESCAPES[nxt])
            i += 2
        elif nxt in "\\\"'":
            out.append(nxt)
            i += 2
        elif nxt == "x":
            out.append(chr(int(body[i + 2 : i + 4], 16)))
            i += 4
        elif nxt in "uU":
            width = 4 if nxt == "u" else 8
            out.append(chr(int(body[i + 2 : i + 2 + width], 16)))
            i += 2 + width
        else:
            raise TemplateError(f"unknown escape \\{nxt} in {literal}")
    return "".join(out)


class _Renderer:
    def __init__(self, ctx: Context) -> None:
        self._dot = ctx.fields()
        self._vars: dict[str, Any] = {"$": self._dot}
        env_map = dict(ctx.env_map)

        def env_or(key: str, fallback: str) -> str:
            return env_map.get(key) or fallback

        self._funcs: dict[str, Callable[..., Any]] = {
            "default": _default,
            "toLower": str.lower,
            "slug": _slug,
            "truncSHA": lambda s: s[:12],
            "envOr": env_or,
            "ternary": _ternary,
            "join": _join,
            "trimPrefix": lambda value, prefix: value.removeprefix(prefix),
            "printf": _printf,
            "print": lambda *a: "".join(_printable(x) for x in a),
            "index": _index,
            "eq": _eq,
            "ne": _ne,
            "not": lambda x: not _truth(x),
            "len": len,
        }

    def run(self, text: str) -> str:
        out: list[str] = []
        pos = 0
        trim_next = False
        for match in _ACTION.finditer(text):
            chunk = text[pos : match.start()]
            if trim_next:
                chunk = chunk.lstrip(" \t\r\n")
            if match.group(1):
                chunk = chunk.rstrip(" \t\r\n")
            out.append(chunk)
            out.append(self._action(match.group(2).strip()))
            trim_next = bool(match.group(3))
            pos = match.end()
        tail = text[pos:]
        out.append(tail.lstrip(" \t\r\n") if trim_next else tail)
        return "".join(out)

    def _action(self, body: str) -> str:
        if body.startswith("/*") and body.endswith("*/"):
            return ""
        tokens = self._tokenize(body)
        if tokens and tokens[0][0] == "ident" and tokens[0][1] in _KEYWORDS:
            raise TemplateError(f"{{{{ {body} }}}}: control structures are outside the subset")
        if len(tokens) >= 2 and tokens[0][0] == "var" and tokens[1][0] in {"declare", "assign"}:
            name = tokens[0][1]
            if tokens[1][0] == "assign" and name not in self._vars:
                raise TemplateError(f"undefined variable {name}")
            self._vars[name] = self._pipeline(tokens[2:])
            return ""
        return _printable(self._pipeline(tokens))

    def _tokenize(self, body: str) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(body):
            if body[pos:].strip() == "":
                break
            match = _TOKEN.match(body, pos)
            if match is None or match.end() == pos:
                raise TemplateError(f"cannot parse {body[pos:]!r}")
            kind = match.lastgroup or ""
            tokens.append((kind, match.group(kind)))
            pos = match.end()
        return tokens

    def _pipeline(self, tokens: list[tuple[str, str]]) -> Any:
        commands: list[list[tuple[str, str]]] = [[]]
        depth = 0
        for token in tokens:
            if token[0] == "pipe" and depth == 0:
                commands.append([])
                continue
            depth += {"open": 1, "close": -1}.get(token[0], 0)
            commands[-1].append(token)
        value: Any = _NOTHING
        for command in commands:
            value = self._command(command, value)
        return value

    def _command(self, tokens: list[tuple[str, str]], piped: Any) -> Any:
        if not tokens:
            raise TemplateError("empty command")
        operands = self._operands(tokens)
        head_kind, head = tokens[0]
        if head_kind == "ident" and head not in {"true", "false", "nil"}:
            # In Go a function named as an argument is called without arguments.
            args = [
                self._call(a.name, []) if isinstance(a, _FunctionName) else a for a in operands[1:]
            ]
            return self._call(head, args + ([] if piped is _NOTHING else [piped]))
        if len(operands) != 1 or piped is not _NOTHING:
            raise TemplateError(f"can't give argument to non-function {head}")
        return operands[0]

    def _call(self, name: str, args: list[Any]) -> Any:
        if name in {"and", "or"}:
            if not args:
                raise TemplateError(f"{name}: no arguments")
            for arg in args:
                if _truth(arg) is (name == "or"):
                    return arg
            return args[-1]
        func = self._funcs.get(name)
        if func is None:
            raise TemplateError(f'function "{name}" not defined')
        try:
            return func(*args)
        except TypeError as exc:
            raise TemplateError(f"{name}: {exc}") from exc

    def _operands(self, tokens: list[tuple[str, str]]) -> list[Any]:
        out: list[Any] = []
        i = 0
        while i < len(tokens):
            kind, text = tokens[i]
            if kind == "open":
                depth, j = 1, i + 1
                while depth:
                    if j >= len(tokens):
                        raise TemplateError("unclosed parenthesis")
                    depth += {"open": 1, "close": -1}.get(tokens[j][0], 0)
                    j += 1
                out.append(self._pipeline(tokens[i + 1 : j - 1]))
                i = j
                continue
            out.append(self._operand(kind, text))
            i += 1
        return out

    def _operand(self, kind: str, text: str) -> Any:  # noqa: PLR0911  (one branch per token kind)
        if kind == "string":
            return _go_string(text)
        if kind == "raw":
            return text[1:-1]
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "field":
            return self._walk(self._dot, text.split(".")[1:], text)
        if kind == "var":
            name, *path = text.split(".")
            if name not in self._vars:
                raise TemplateError(f"undefined variable {name}")
            return self._walk(self._vars[name], path, text)
        if kind == "ident":
            if text in {"true", "false"}:
                return text == "true"
            if text == "nil":
                return None
            return _FunctionName(text)
        raise TemplateError(f"unexpected {text!r}")

    @staticmethod
    def _walk(value: Any, path: list[str], text: str) -> Any:
        for name in filter(None, path):
            if not isinstance(value, dict) or name not in value:
                raise TemplateError(f"can't evaluate field {name} in {text}")
            value = value[name]
        return value


@dataclass(frozen=True)
class _FunctionName:
    name: str


_NOTHING = object()
