"""What the rules read the world through: the repository's files, Python modules and YAML."""

from ._python import (
    Module,
    call_parts,
    docstring_nodes,
    dotted,
    functions,
    keyword_names,
    modules,
    own_nodes,
)
from ._repo import ZONES, Repo, Service
from ._types import HTTP_KINDS, NETWORK_KINDS, REDIS_KINDS, Inferred, Kind, TypeMap, types_of
from ._yaml import compose, line_of, scalars

__all__ = [
    "HTTP_KINDS",
    "NETWORK_KINDS",
    "REDIS_KINDS",
    "ZONES",
    "Inferred",
    "Kind",
    "Module",
    "Repo",
    "Service",
    "TypeMap",
    "call_parts",
    "compose",
    "docstring_nodes",
    "dotted",
    "functions",
    "keyword_names",
    "line_of",
    "modules",
    "own_nodes",
    "scalars",
    "types_of",
]
