"""Teaching aids for the notebooks: self-checks (``checks``), the exercises (``exercises``: ``check``,
``hint``, ``solution``), widgets (``widgets``) and :func:`setup_notebook`."""

from . import checks, exercises, widgets
from .exercises import check, hint, solution, solution_fn
from .notebook import setup_notebook

__all__ = ["check", "checks", "exercises", "hint", "setup_notebook", "solution", "solution_fn", "widgets"]
