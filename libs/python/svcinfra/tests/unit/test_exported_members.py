"""The public API of each package is exactly its curated `__all__`, sorted."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

import svcinfra

PACKAGES = ["svcinfra", "svcinfra.config"]


@pytest.mark.parametrize("name", PACKAGES, ids=str)
def test_all_is_sorted_and_complete(name: str) -> None:
    """Every public name is in `__all__`, `__all__` is sorted and every entry exists."""
    module = importlib.import_module(name)
    public = {
        n
        for n, value in vars(module).items()
        if (not n.startswith("_") or n == "__version__") and not isinstance(value, ModuleType)
    }
    exported = list(module.__all__)

    assert exported == sorted(exported)
    assert set(exported) == public - {"annotations"}


def test_version_is_the_distribution_version() -> None:
    """`svcinfra.__version__` is the installed distribution's version."""
    from importlib.metadata import version

    assert svcinfra.__version__ == version("svcinfra")
