"""JSON paths for problem reports, and local `$ref` resolution inside a contract document."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, unquote

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(*parts: str | int) -> str:
    """Return the JSON path of `parts`: `$.channels['user.events'].messages[0]`."""
    text = "$"
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.match(part):
            text += f".{part}"
        else:
            text += "['" + part.replace("'", "\\'") + "']"
    return text


def pointer_parts(ref: str) -> tuple[str, ...] | None:
    """Return the keys of a local `$ref` (`#/a/b` -> `("a", "b")`), or None if it is not local.

    The fragment of a URI is percent-decoded first, then read as a JSON pointer (RFC 6901,
    section 6): `#/components/schemas/Sent%20Payload` names the key `Sent Payload`, `~1` a `/`
    and `~0` a `~`. `#` alone is the whole document.
    """
    if ref == "#":
        return ()
    if not ref.startswith("#/"):
        return None
    pointer = unquote(ref[1:], errors="replace")
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/"))


def pointer_ref(parts: tuple[str, ...]) -> str:
    """Return the local `$ref` of `parts`, escaped and percent-encoded (`pointer_parts` undone)."""
    escaped = (part.replace("~", "~0").replace("/", "~1") for part in parts)
    return "#" + "".join("/" + quote(part, safe="~!$&'()*+,;=:@") for part in escaped)


def resolve(document: Mapping[str, Any], ref: str) -> Any | None:  # noqa: ANN401  (any JSON)
    """Return what the local `$ref` points at in `document`, or None when nothing is there."""
    parts = pointer_parts(ref)
    if parts is None:
        return None
    node: Any = document
    for part in parts:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def iter_refs(
    node: Any,  # noqa: ANN401  (any JSON)
    path: tuple[str | int, ...] = (),
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Yield `(path, ref)` for every `$ref` string in a JSON tree."""
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield (*path, "$ref"), ref
        for key, value in node.items():
            if key != "$ref":
                yield from iter_refs(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from iter_refs(value, (*path, index))


def deref(document: Mapping[str, Any], node: Any) -> Any:  # noqa: ANN401  (any JSON)
    """Follow `node`'s local `$ref` chain (at most 32 hops) and return the target, or None."""
    for _ in range(32):
        if not (isinstance(node, Mapping) and isinstance(node.get("$ref"), str)):
            return node
        node = resolve(document, node["$ref"])
    return None
