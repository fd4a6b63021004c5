"""The service's AsyncAPI contract (MQ-1), loaded from package data, optionally re-named.

The contract in `api/server/asyncapi.yaml` is the single source of the topology. A dev slot or
a test run sharing a broker may put a prefix in front of every exchange and queue name and
shorten the retry tiers; the document is rewritten before it is validated, so what runs is still
a valid contract and the production file is untouched.
"""

from __future__ import annotations

import copy
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from svcinfra.messaging.contract import Contract, contract_from_document, read_document

if TYPE_CHECKING:
    from collections.abc import Sequence

CONSUMER_NAME = "notifications"
_RESOURCE = ("api", "server", "asyncapi.yaml")
_SOURCE = "notifications:api/server/asyncapi.yaml"


def contract_document() -> dict[str, Any]:
    """The contract as shipped, read as every contract is read (YAML 1.2, MQ-1)."""
    text = files("notifications").joinpath(*_RESOURCE).read_text(encoding="utf-8")
    return read_document(text, source=_SOURCE)


def load_service_contract(
    *, prefix: str | None = None, backoff: Sequence[str] | None = None
) -> Contract:
    """Load the service's contract, optionally re-named and with other retry tiers.

    Args:
        prefix: put `<prefix>.` before every exchange and queue name.
        backoff: the retry tiers' delays (`100ms`, `1s`, ...) instead of the contract's.

    Raises:
        ContractError: the (rewritten) contract breaks a rule; every problem is listed.
    """
    document = contract_document()
    if prefix:
        document = _prefixed(document, prefix)
    if backoff:
        document = _with_backoff(document, backoff)
    return contract_from_document(document, source=_SOURCE)


def _prefixed(document: dict[str, Any], prefix: str) -> dict[str, Any]:
    out = copy.deepcopy(document)
    for channel in out["channels"].values():
        amqp = channel.get("bindings", {}).get("amqp", {})
        if "exchange" in amqp:
            amqp["exchange"]["name"] = f"{prefix}.{amqp['exchange']['name']}"
        if "queue" in amqp:
            amqp["queue"]["name"] = f"{prefix}.{amqp['queue']['name']}"
            channel["address"] = amqp["queue"]["name"]
        for binding in channel.get("x-amqp-bindings", []):
            binding["exchange"] = f"{prefix}.{binding['exchange']}"
    return out


def _with_backoff(document: dict[str, Any], backoff: Sequence[str]) -> dict[str, Any]:
    out = copy.deepcopy(document)
    for operation in out["operations"].values():
        if operation.get("action") == "receive":
            operation["x-retry"] = {"maxAttempts": len(backoff) + 1, "backoff": list(backoff)}
    return out
