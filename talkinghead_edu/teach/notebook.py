"""``setup_notebook()``: the first call in every notebook."""

from __future__ import annotations

import os
import random
import sys
from importlib.metadata import version as package_version

import numpy as np
import plotly.io as pio
import torch

# jsonschema checks the "iri" string formats with rfc3987-syntax when it is installed (jupyter-events pulls it in),
# and that package compiles an Earley parser for RFC 3987 at import: ~3.4 s. A kernel reaches jsonschema only through
# plotly's renderers -> nbformat, which never validates IRIs, so setup_notebook imports them with it hidden.
_SLOW_OPTIONAL_MODULE = "rfc3987_syntax"


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules


def _import_plotly_renderers() -> None:
    """Import ``plotly.io._renderers`` (and through it nbformat and jsonschema) without ``rfc3987_syntax``.

    jsonschema then registers no checker for the ``iri`` / ``iri-reference`` formats in this process (it
    accepts any string there, as without the package); everything else is unchanged, and an explicit
    ``import rfc3987_syntax`` afterwards still works. Nothing is hidden when jsonschema is already imported.
    """
    if "jsonschema" in sys.modules or _SLOW_OPTIONAL_MODULE in sys.modules:
        import plotly.io._renderers  # noqa: F401  (already paid for, or nothing to hide)

        return
    sys.modules[_SLOW_OPTIONAL_MODULE] = None  # makes `import rfc3987_syntax` raise ImportError
    try:
        import plotly.io._renderers  # noqa: F401
    finally:
        del sys.modules[_SLOW_OPTIONAL_MODULE]


def setup_notebook(seed: int = 0, device: str | None = None, verbose: bool = True) -> torch.device:
    """Prepare a notebook session and return the torch device to use.

    * seeds Python, NumPy and PyTorch with ``seed`` (results are repeatable);
    * picks ``device``: the argument if given, else CUDA when available, else CPU;
    * chooses a plotly renderer that shows figures in JupyterLab, the classic
      Notebook, VS Code and Colab (``"colab"`` there, ``"plotly_mimetype+notebook"``
      elsewhere: the mimetype for Lab/Notebook 7, the embedded script for Notebook 6
      and static HTML exports);
    * on Colab, enables the custom widget manager so ipywidgets render.

    Args:
        seed: the random seed.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``... or ``None`` for automatic.
        verbose: print a one-line summary.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

    chosen = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")

    _import_plotly_renderers()
    if in_colab():
        pio.renderers.default = "colab"
        from google.colab import output  # type: ignore[import-not-found]

        output.enable_custom_widget_manager()
    else:
        pio.renderers.default = os.environ.get("TALKINGHEAD_PLOTLY_RENDERER", "plotly_mimetype+notebook")

    if verbose:
        print(
            f"talkinghead_edu {package_version('talkinghead_edu')} | torch {torch.__version__} | device {chosen} | "
            f"{torch.get_num_threads()} CPU threads | seed {seed}"
        )
    return chosen
