"""Where the bundled data and assets live.

``dataset_root()`` finds ``datasets_small/``: the ``TALKINGHEAD_DATA`` environment
variable if set, else the folder next to the package (a source checkout or an
editable install), else ``./datasets_small``.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR / "flame" / "assets"


def dataset_root() -> Path:
    """Folder holding the bundled ``datasets_small`` data (see module docstring)."""
    env = os.environ.get("TALKINGHEAD_DATA")
    if env:
        return Path(env).expanduser().resolve()
    beside_package = PACKAGE_DIR.parent / "datasets_small"
    if beside_package.is_dir():
        return beside_package
    return Path.cwd() / "datasets_small"


def cache_dir() -> Path:
    """Per-user cache (JIT builds, trained checkpoints): ``$TALKINGHEAD_CACHE`` or ``~/.cache/talkinghead_edu``."""
    env = os.environ.get("TALKINGHEAD_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "talkinghead_edu"
    root.mkdir(parents=True, exist_ok=True)
    return root
