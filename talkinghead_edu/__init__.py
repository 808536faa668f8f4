"""talkinghead_edu — audio-driven talking heads with 3D Gaussian splatting, stage by stage.

The paper's stages, in data-flow order (Figure 2), each a subpackage that imports only
lower layers and :mod:`~talkinghead_edu.conventions`:

``audio`` (eq 1) → ``decoupling`` (eqs 2–3) → ``motion`` (eqs 4–8) → ``flame`` (eq 10) →
``gaussians`` (eqs 11–18, losses 20–24) → ``render`` (eq 9) → ``inpaint`` (eq 19).

Around them: ``eval`` (metrics of §4.2), ``data`` (loaders), ``synth`` (the synthetic world
that makes ``datasets_small``), ``recipes`` (training drivers behind the CLI), ``bench``
and ``teach`` (self-checks and widgets for the notebooks). Notebooks write
``import talkinghead_edu as th`` and reach everything from there (``th.flame.lbs``,
``th.teach.widgets.flame`` ...).
"""

__version__ = "0.1.0"

from . import (  # noqa: E402  # noqa: E402  # noqa: E402
    audio,
    conventions,  # noqa: E402  (layer 0 first)
    data,  # noqa: E402
    decoupling,
    eval,
    flame,
    gaussians,
    inpaint,
    motion,  # noqa: E402
    pipeline,
    render,
    synth,
    teach,
)
from .teach.notebook import setup_notebook  # noqa: E402

__all__ = [
    "__version__",
    "audio",
    "conventions",
    "data",
    "decoupling",
    "eval",
    "flame",
    "gaussians",
    "inpaint",
    "motion",
    "pipeline",
    "render",
    "setup_notebook",
    "synth",
    "teach",
]
