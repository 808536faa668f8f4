"""Self-checks for the notebooks' from-scratch cells and exercises.

Each stage has its own module (``checks.flame``, ``checks.render`` ...) built on
:func:`compare_to_library`; every check is re-exported here, so a notebook writes
``th.teach.checks.check_rodrigues(my_fn)``.
"""

from . import audio, evaluation, flame, gaussians, motion, render, speak, video
from ._core import CheckFailed, compare_to_library, exercise_or_library
from .audio import *  # noqa: F403  (each module lists its checks in __all__)
from .evaluation import *  # noqa: F403
from .flame import *  # noqa: F403
from .gaussians import *  # noqa: F403
from .motion import *  # noqa: F403
from .render import *  # noqa: F403
from .speak import *  # noqa: F403
from .video import *  # noqa: F403

__all__ = (
    ["CheckFailed", "compare_to_library", "exercise_or_library"]
    + audio.__all__
    + evaluation.__all__
    + flame.__all__
    + gaussians.__all__
    + motion.__all__
    + render.__all__
    + speak.__all__
    + video.__all__
)
