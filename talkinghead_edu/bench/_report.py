"""Writing a benchmark's results: ``<name>.json`` (everything measured) and ``<name>.md`` (the table)."""

from __future__ import annotations

import json
from pathlib import Path

from ..utils.io import atomic_write_text


def write_report(out_dir: Path, name: str, result: dict, table: str) -> None:
    """Create ``out_dir`` if needed and write ``result`` as JSON and ``table`` as Markdown, each atomically
    (an interrupted benchmark never leaves a half-written file in place of an earlier one)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / f"{name}.json", json.dumps(result, indent=2))
    atomic_write_text(out_dir / f"{name}.md", table)
