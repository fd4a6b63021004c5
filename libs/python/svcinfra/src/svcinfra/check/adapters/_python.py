"""Python source as the rules see it: a service's modules, their layer, names and calls."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from ._repo import Repo, Service


@dataclass(frozen=True, slots=True)
class Module:
    """One parsed module of a service package.

    Attributes:
        path: the file.
        rel: the file relative to the repository root.
        parts: its path inside the package (`("domain", "service", "users.py")`).
        tree: its syntax tree.
        imports: every imported module's dotted name, with the line of the import.
    """

    path: Path
    rel: str
    parts: tuple[str, ...]
    tree: ast.Module = field(repr=False)
    imports: tuple[tuple[str, int], ...] = field(repr=False)

    @property
    def layer(self) -> str:
        """The first folder inside the package (`domain`), or the module's stem (`app`)."""
        first = self.parts[0]
        return first.removesuffix(".py")

    def in_folder(self, *folders: str) -> bool:
        """Whether the module lives under `folders` inside the package."""
        return self.parts[: len(folders)] == folders and len(self.parts) > len(folders)

    def imports_any(self, *roots: str) -> bool:
        """Whether it imports one of `roots` or a submodule of one."""
        return any(_under(name, root) for name, _ in self.imports for root in roots)


def _under(name: str, root: str) -> bool:
    return name == root or name.startswith(root + ".")


def modules(repo: Repo, service: Service) -> Iterator[Module]:
    """Yield every parseable module of the service's package, tests left out (memoised)."""
    key = ("modules", service.rel)
    cached = repo.memo.get(key)
    if not isinstance(cached, list):
        cached = list(_modules(repo, service))
        repo.memo[key] = cached
    yield from cached


def _modules(repo: Repo, service: Service) -> Iterator[Module]:
    if service.package_dir is None:
        return
    for path in repo.service_files(service):
        tree = repo.tree(path)
        if tree is not None:
            yield Module(
                path=path,
                rel=repo.rel(path),
                parts=path.relative_to(service.package_dir).parts,
                tree=tree,
                imports=tuple(_imports(tree)),
            )


def _imports(tree: ast.Module) -> Iterator[tuple[str, int]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module, node.lineno
            for alias in node.names:
                yield f"{node.module}.{alias.name}", node.lineno


def dotted(node: ast.expr) -> str | None:
    """`a.b.c` for a Name / Attribute chain (through calls: `a.b().c` -> `a.b.c`), else None."""
    names: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Name):
            names.append(node.id)
            return ".".join(reversed(names))
        else:
            return None


def call_parts(call: ast.Call) -> tuple[str | None, str | None]:
    """The receiver's dotted name and the called name.

    `self._redis.set(...)` -> (`self._redis`, `set`); `open(...)` -> (None, `open`).
    """
    func = call.func
    if isinstance(func, ast.Attribute):
        return dotted(func.value), func.attr
    if isinstance(func, ast.Name):
        return None, func.id
    return None, None


def keyword_names(call: ast.Call) -> set[str]:
    """The names of the call's keyword arguments (`**kwargs` counts as every name)."""
    names = {kw.arg for kw in call.keywords if kw.arg is not None}
    if any(kw.arg is None for kw in call.keywords):
        names.add("**")
    return names


def docstring_nodes(tree: ast.Module) -> set[int]:
    """The ids of every docstring constant, which are prose, not code."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                found.add(id(body[0].value))
    return found


def functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Every function and method of the module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def own_nodes(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node of `body`, not descending into nested functions, classes or lambdas."""
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda
            ):
                stack.append(child)  # noqa: PERF401  (one finding per match reads clearer as a loop)
