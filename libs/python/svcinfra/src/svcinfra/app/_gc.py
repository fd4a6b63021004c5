"""The garbage collector of a serving process: freeze the start-up heap, collect less often.

CPython runs a generation-0 collection every 700 net allocations of container objects. A server
with a few dozen requests in flight keeps more than that alive at any time (each request holds
its scope, task, coroutines, headers, models, span...), so nearly every collection finds no
garbage: it promotes the in-flight objects, and the promotions soon trigger a full collection,
which walks every object the process holds, the ~100k of its imported modules and configuration
included. Measured on the users API under 16 connections (bench/service_bench.py): ~90 us of CPU
per request spent in the collector, a full collection of ~30 ms every few hundred requests (the
p99), and no garbage found by any of them. A bare FastAPI app, whose in-flight set stays under
the threshold, spends nothing there.

`tune_gc` fixes both ends: `gc.freeze()` moves what start-up allocated (modules, the app, pools,
settings) to the permanent generation, which no collection scans again, and generation 0 gets a
threshold above what requests keep in flight. Cyclic garbage is still collected, in larger and
rarer batches: at most `gen0_threshold` container objects (a few megabytes) wait for it.
"""

from __future__ import annotations

import gc
from typing import Final

__all__ = ["GEN0_THRESHOLD", "tune_gc"]

GEN0_THRESHOLD: Final = 10_000


def tune_gc(*, gen0_threshold: int = GEN0_THRESHOLD) -> None:
    """Collect once, freeze the survivors, and raise generation 0's threshold.

    Call it once start-up is complete and before serving (the runner does, after `setup`), so
    that what is frozen is what lives as long as the process. Generations 1 and 2 keep their
    thresholds; a threshold already above `gen0_threshold` is kept.

    Raises:
        ValueError: `gen0_threshold` is not positive (0 would disable the collector).
    """
    if gen0_threshold <= 0:
        raise ValueError(f"gen0_threshold must be positive, got {gen0_threshold}")
    gc.collect()
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, gen0_threshold), gen1, gen2)
