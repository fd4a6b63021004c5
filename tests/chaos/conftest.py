"""The chaos suite's modules sit beside its tests and are not installed: put them on the path.

The clustered chaos run (`test_chaos_cluster.py`, marker `chaos_cluster`) is left out of a plain
`pytest` (reported as deselected) unless `SVCINFRA_CHAOS_CLUSTER=1`; `make test` runs it as a step
of its own, `make chaos-cluster-ci`: see docs/reliability.md, "On clusters".
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1] / "tools"), str(HERE)]

CLUSTER_RUN = "SVCINFRA_CHAOS_CLUSTER"


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker of the clustered chaos run (`make chaos-cluster-ci` runs it)."""
    config.addinivalue_line(
        "markers", f"chaos_cluster: the clustered chaos run at CI size (runs with {CLUSTER_RUN}=1)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the clustered chaos run out of the pytest suite unless asked (shown as deselected).

    It takes 3.5-4.5 min on the shared 2-core machine, over the three minutes a test may add to
    the suite; `make test` (so CI) runs it as a step of its own (`make chaos-cluster-ci`).
    """
    if os.environ.get(CLUSTER_RUN) == "1":
        return
    left_out = [item for item in items if item.get_closest_marker("chaos_cluster")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("chaos_cluster")]
