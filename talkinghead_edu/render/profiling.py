"""Per-stage timing of ``render(backend="fast")``: :func:`profile_stages` collects, :func:`stage` marks."""

from __future__ import annotations

import time
from contextlib import contextmanager

_PROFILE: list[dict[str, dict[str, float]] | None] = [None]


@contextmanager
def profile_stages():
    """Collect the time each stage of ``render(backend="fast")`` takes while the block runs.

    Yields ``{"wall": {stage: seconds}, "cpu": {stage: seconds}}`` (process CPU time, all
    threads — the fairer number on a shared machine), summed over calls. Stages: ``projection``,
    ``sh``, ``binning``, ``sort``, ``composite`` (forward) and ``backward: composite``,
    ``backward: sh``, ``backward: projection`` (inside ``loss.backward()``).

    Example:
        >>> with profile_stages() as seconds:
        ...     out = render(gaussians, camera, backend="fast")
        >>> sorted(seconds["wall"])  # doctest: +SKIP
        ['binning', 'composite', 'projection', 'sh', 'sort']
    """
    previous, _PROFILE[0] = _PROFILE[0], {"wall": {}, "cpu": {}}
    try:
        yield _PROFILE[0]
    finally:
        _PROFILE[0] = previous


@contextmanager
def stage(name: str):
    """Add the block's wall and CPU time to ``name`` in the active :func:`profile_stages` dict (no-op otherwise)."""
    times = _PROFILE[0]
    if times is None:
        yield
        return
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        times["wall"][name] = times["wall"].get(name, 0.0) + time.perf_counter() - wall
        times["cpu"][name] = times["cpu"].get(name, 0.0) + time.process_time() - cpu
