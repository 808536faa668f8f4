"""Interactive figures for the notebooks, one module per stage (``widgets.flame``,
``widgets.render`` ...). Each widget is a thin ``ipywidgets`` wrapper around a pure
update function that returns a figure; those functions are tested headless in ``tests/``.
"""

from . import audio, flame, gaussians, motion, render, tour

__all__ = ["audio", "flame", "gaussians", "motion", "render", "tour"]
