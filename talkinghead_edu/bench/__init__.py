"""Benchmarks: ``python -m talkinghead_edu.bench NAME [options]``.

Each benchmark is a module ``talkinghead_edu/bench/NAME.py`` with ``main(argv)``; it
writes JSON and a Markdown table (atomically) and prints the table. Speed is never
asserted in tests: the README quotes these files.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys


def available() -> list[str]:
    """Names of the benchmarks in this package."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    names = available()
    if not argv or argv[0] not in names:
        print(f"usage: python -m talkinghead_edu.bench {{{','.join(names)}}} [options]")
        return 0 if not argv or argv[0] in {"-h", "--help"} else 2
    module = importlib.import_module(f"{__name__}.{argv[0]}")
    return int(module.main(argv[1:]) or 0)
