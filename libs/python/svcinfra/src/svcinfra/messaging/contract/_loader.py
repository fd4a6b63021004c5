"""Loading a contract from a file or from package data, with every problem reported (MQ-1)."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from svcinfra.messaging._errors import ContractError, ContractProblem

from ._build import build_contract
from ._schema import schema_problems

if TYPE_CHECKING:
    import os

    from ._model import Contract

DEFAULT_RESOURCE = "api/server/asyncapi.yaml"


def parse_document(text: str) -> tuple[Mapping[str, Any] | None, list[ContractProblem]]:
    """Parse YAML (or JSON) text into a document; a syntax error is a problem at `$`."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or type(exc).__name__
        return None, [ContractProblem("$", f"is not valid YAML{where}: {reason}", "MQ-1")]
    if not isinstance(document, Mapping):
        return None, [ContractProblem("$", "is not a YAML mapping (an AsyncAPI document)", "MQ-1")]
    return document, []


def check_document(
    document: Mapping[str, Any], source: str
) -> tuple[Contract | None, list[ContractProblem]]:
    """Validate against the official schema, then the semantic rules; return contract or problems.

    The semantic rules read a document the schema accepted, so when the schema reports problems,
    those are all that is reported: fix them, then run the check again.
    """
    problems = schema_problems(document)
    if problems:
        return None, problems
    return build_contract(document, source)


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
