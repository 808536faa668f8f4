"""numba, imported once for the fast CPU kernels (:mod:`.fast`, :mod:`.fast_projection`, :mod:`.fast_sh`).

Kernels are cached on disk (``cache=True``); if the package folder is read-only the cache goes
to ``paths.cache_dir()/numba``. Without numba, ``njit`` leaves functions as plain Python and
:func:`talkinghead_edu.render.fast.available` reports the import error.
"""

from __future__ import annotations

import os
from pathlib import Path

if not os.access(Path(__file__).parent, os.W_OK) and "NUMBA_CACHE_DIR" not in os.environ:
    from ..paths import cache_dir

    os.environ["NUMBA_CACHE_DIR"] = str(cache_dir() / "numba")

try:
    import numba
    from numba import get_thread_id, njit, prange

    numba_import_error = None
except Exception as exc:  # pragma: no cover - numba ships with librosa; this is the no-numba path
    numba = None
    numba_import_error = exc

    def njit(*args, **kwargs):
        return (lambda f: f) if not args or not callable(args[0]) else args[0]

    prange = range

    def get_thread_id():
        return 0


if numba is not None and "NUMBA_CACHE_DIR" in os.environ:
    numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]
