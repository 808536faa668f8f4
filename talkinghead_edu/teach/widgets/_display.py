"""The one way every widget of the course shows its figure.

A widget is a few controls plus a function that draws a plotly figure from their values;
:class:`LiveFigure` puts them together. The figure is drawn when the widget is created and
redrawn whenever a control changes: the figure is the single output of an
:class:`ipywidgets.Output`, and a redraw replaces that output as a whole (one state change, so
nothing flickers or piles up, and JupyterLab's plotly renderer draws it, animation frames included).

The output is widget state that the kernel sets directly: the callback never calls ``display()``
or ``figure.show()``, so nothing depends on a frontend routing outputs to the right place
(papermill runs the notebooks unattended, and headless tests read the same state a browser renders).

(``plotly.graph_objects.FigureWidget`` would restyle in place, but it cannot hold animation
frames and, as an anywidget in JupyterLab 4.6, sometimes renders an empty plot on first display.)
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import ipywidgets as widgets
import plotly.graph_objects as go
import plotly.io as pio

__all__ = ["LiveFigure", "figure_output"]


def figure_output(figure: go.Figure) -> dict:
    """The notebook output (``display_data``) of a plotly figure, as JupyterLab's plotly renderer reads it."""
    bundle = pio.renderers["plotly_mimetype"].to_mimebundle(figure.to_dict())
    return {
        "output_type": "display_data",
        "metadata": {},
        "data": {**bundle, "text/plain": f"<plotly figure: {figure.layout.title.text or 'untitled'}>"},
    }


class LiveFigure(widgets.VBox):
    """Controls above a plotly figure that ``draw(**values)`` redraws whenever a control changes.

    Args:
        draw: ``draw(**{name: control.value})`` -> ``go.Figure``.
        controls: name -> control (slider, dropdown, checkbox); shown top to bottom in this order.

    Attributes:
        controls: the controls by name; ``children`` are the controls in order, then :attr:`view`.
        figure: the ``go.Figure`` drawn last.
        view: the ``Output`` widget showing it.
    """

    def __init__(self, draw: Callable[..., go.Figure], controls: Mapping[str, widgets.ValueWidget]):
        self.draw = draw
        self.controls = dict(controls)
        self.view = widgets.Output()
        super().__init__(children=[*self.controls.values(), self.view])
        self.redraw()
        for control in self.controls.values():
            control.observe(self.redraw, names="value")

    @property
    def values(self) -> dict[str, Any]:
        """The controls' current values by name."""
        return {name: control.value for name, control in self.controls.items()}

    def redraw(self, change: Any = None) -> None:
        """Draw the figure for the current values and make it the view's only output.

        ``change``: the trait event of the control that changed (unused)."""
        figure = self.draw(**self.values)
        if not isinstance(figure, go.Figure):
            raise TypeError(f"LiveFigure: draw must return a plotly go.Figure, got {type(figure).__name__}")
        self.figure = figure
        self.view.outputs = (figure_output(figure),)
