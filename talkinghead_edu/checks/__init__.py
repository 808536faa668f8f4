"""Self-checks for the notebooks' from-scratch cells and exercises.

Each stage has its own module (``checks.flame``, ``checks.render`` ...) built on
:func:`compare_to_library`; they are re-exported here lazily so that
``th.checks.check_rodrigues(my_fn)`` works without importing every stage.
"""
from __future__ import annotations

import importlib
import pkgutil

from ._core import CheckFailed, compare_to_library, exercise_or_library

__all__ = ["CheckFailed", "compare_to_library", "exercise_or_library"]


def __getattr__(name: str):
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(f"talkinghead_edu.checks has no check named {name!r}")
