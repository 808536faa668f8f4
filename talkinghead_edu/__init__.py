"""talkinghead_edu — audio-driven talking heads with 3D Gaussian splatting, stage by stage.

Stages (one module each, data flowing one way; see the README for the paper map):
``audio`` → ``decoupling`` → ``motion`` → ``flame`` → ``gaussians`` → ``render`` →
``losses`` / ``inpaint``; ``data`` makes and loads the bundled dataset.
"""
__version__ = "0.1.0"

from . import checks  # noqa: E402
from ._notebook import setup_notebook  # noqa: E402

__all__ = ["__version__", "checks", "setup_notebook"]
