"""The public API of svcinfra.messaging and its subpackages is exactly their curated `__all__`."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

from svcinfra.messaging import headers

PACKAGES = [
    "svcinfra.messaging",
    "svcinfra.messaging.consumer",
    "svcinfra.messaging.contract",
    "svcinfra.messaging.dlq",
    "svcinfra.messaging.inbox",
    "svcinfra.messaging.outbox",
    "svcinfra.messaging.publisher",
    "svcinfra.messaging.storage",
    "svcinfra.messaging.topology",
]
SUBPACKAGES = {"cli", "consumer", "contract", "dlq", "inbox", "outbox", "publisher", "storage",
               "topology"}  # fmt: skip
SUBMODULES = {"svcinfra.messaging": {"headers"}}


def isort_key(name: str) -> tuple[bool, bool, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then functions, each alphabetical."""
    return (not name.isupper(), not name[:1].isupper(), name)


@pytest.mark.parametrize("name", PACKAGES, ids=str)
def test_all_is_sorted_and_complete(name: str) -> None:
    """Every public name is exported, `__all__` is sorted, and no private module leaks."""
    module = importlib.import_module(name)
    public = {
        n
        for n, value in vars(module).items()
        if not n.startswith("_") and not isinstance(value, ModuleType)
    } - {"annotations"}
    public_modules = {n for n, v in vars(module).items() if isinstance(v, ModuleType)} - {
        n for n in vars(module) if n.startswith("_")
    }

    assert list(module.__all__) == sorted(module.__all__, key=isort_key)
    assert set(module.__all__) == public | SUBMODULES.get(name, set())
    assert public_modules - SUBPACKAGES == SUBMODULES.get(name, set())


def test_reserved_headers_are_the_documented_non_x_names() -> None:
    """Every header svcinfra owns is reserved, and none is broker-owned `x-*`."""
    names = {v for k, v in vars(headers).items() if k.isupper() and isinstance(v, str)}

    assert names == set(headers.RESERVED)
    assert not any(name.startswith("x-") for name in names)
