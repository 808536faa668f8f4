"""``setup_notebook()``: the first call in every notebook."""

from __future__ import annotations

import os
import random
import sys
from importlib.metadata import version as package_version

import numpy as np
import plotly.io as pio
import torch


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules


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
