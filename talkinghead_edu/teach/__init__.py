"""Teaching aids for the notebooks: self-checks (``checks``), widgets (``widgets``) and
:func:`setup_notebook`."""
from . import checks, widgets
from .notebook import setup_notebook

__all__ = ["checks", "setup_notebook", "widgets"]
