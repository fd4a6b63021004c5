"""Loading a contract from a file or from package data, with every problem reported (MQ-1)."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from svcinfra.messaging._errors import ContractError, ContractProblem

from ._asyncapi3 import asyncapi3_problems
from ._build import build_contract, reference_problems
from ._schema import resolved_problems, schema_problems
from ._yaml import load_yaml

if TYPE_CHECKING:
    import os

    from ._model import Contract

DEFAULT_RESOURCE = "api/server/asyncapi.yaml"


def parse_document(text: str) -> tuple[Mapping[str, Any] | None, list[ContractProblem]]:
    """Parse YAML 1.2 (or JSON) text into a document; every problem has its JSON path.

    The YAML 1.2 core schema, as the official parser reads it (`_yaml.py`): `on` and
    `2024-01-01` are strings, duplicate keys and keys that are not strings are refused.
    """
    document, problems = load_yaml(text)
    if problems:
        return None, problems
    if not isinstance(document, Mapping):
        return None, [ContractProblem("$", "is not a YAML mapping (an AsyncAPI document)", "MQ-1")]
    return document, []


def check_document(
    document: Mapping[str, Any], source: str
) -> tuple[Contract | None, list[ContractProblem]]:
    """Validate against the official schema, then the semantic rules; return contract or problems.

    The semantic rules read a document the schema accepted, so when the schema reports problems,
    those are all that is reported: fix them, then run the check again. The official parser's
    `asyncapi3-*` rules come next, then svcinfra's own (MQ-1, MQ-2, MQ-5, MQ-9, MQ-10).
    """
    problems = (
        schema_problems(document)
        or reference_problems(document)
        or [*resolved_problems(document), *asyncapi3_problems(document)]
    )
    if problems:
        return None, problems
    return build_contract(document, source)


def read_document(text: str, *, source: str = "<text>") -> dict[str, Any]:
    """Return the document written in `text`, read as every contract is read (YAML 1.2).

    For code that rewrites a contract before validating it (a test prefix, other retry tiers).

    Raises:
        ContractError: the text is not YAML, or not a mapping; every problem is listed.
    """
    document, problems = parse_document(text)
    if document is None:
        raise ContractError(source, problems)
    return dict(document)


def contract_from_document(document: Mapping[str, Any], *, source: str = "<document>") -> Contract:
    """Return the contract of an already parsed document; raise ContractError listing problems."""
    contract, problems = check_document(document, source)
    if contract is None:
        raise ContractError(source, problems)
    return contract


def parse_contract(text: str, *, source: str = "<text>") -> Contract:
    """Return the contract written in `text`; raise ContractError listing every problem."""
    document, problems = parse_document(text)
    if document is None:
        raise ContractError(source, problems)
    return contract_from_document(document, source=source)


def load_contract(path: str | os.PathLike[str]) -> Contract:
    """Load and validate the contract file at `path`; raise ContractError listing every problem."""
    return parse_contract(Path(path).read_text(encoding="utf-8"), source=str(path))


def load_package_contract(package: str, resource: str = DEFAULT_RESOURCE) -> Contract:
    """Load a service's contract shipped as package data (`users` -> `users/api/server/...`).

    This is how a service finds its contract at start-up: the file ships inside the wheel, the
    way Go embeds it, so no path depends on the working directory.
    """
    text = files(package).joinpath(*resource.split("/")).read_text(encoding="utf-8")
    return parse_contract(text, source=f"{package}:{resource}")
