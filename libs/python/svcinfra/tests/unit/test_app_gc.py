"""tune_gc: start-up objects frozen, generation 0 collected less often, cycles still collected."""

from __future__ import annotations

import gc
import weakref
from typing import TYPE_CHECKING

import pytest

from svcinfra.app._gc import GEN0_THRESHOLD, tune_gc

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def restored_gc() -> Iterator[None]:
    """Give the test process its collector back as it was."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


class Node:
    """An object that can sit in a reference cycle and be watched with a weak reference."""

    def __init__(self) -> None:
        self.me: Node | None = None


def test_it_freezes_what_lives_and_raises_only_generation_0() -> None:
    gc.set_threshold(700, 10, 10)
    survivor = Node()

    tune_gc()

    assert gc.get_threshold() == (GEN0_THRESHOLD, 10, 10)
    assert gc.get_freeze_count() > 0
    assert all(o is not survivor for o in gc.get_objects())  # frozen: no longer scanned


def test_a_higher_threshold_is_kept() -> None:
    gc.set_threshold(50_000, 10, 10)

    tune_gc()

    assert gc.get_threshold() == (50_000, 10, 10)


def test_cycles_made_after_it_are_still_collected_automatically() -> None:
    tune_gc(gen0_threshold=1_000)
    node = Node()
    node.me = node
    watched = weakref.ref(node)
    del node

    kept: list[list[int]] = [[] for _ in range(5_000)]  # past the threshold: a collection runs

    assert watched() is None
    del kept


@pytest.mark.parametrize("threshold", [0, -1])
def test_a_threshold_that_would_disable_the_collector_is_refused(threshold: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        tune_gc(gen0_threshold=threshold)
