"""Timing shared by the benchmarks: median wall-clock seconds after one warm-up call."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    """Call ``fn`` once to warm up (JIT, caches), then ``runs`` times; return the median wall time (s)."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
