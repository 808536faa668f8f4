"""The one way every widget of the course shows its figure.

A widget is a few controls plus a function that draws a plotly figure from their values;
:class:`LiveFigure` puts them together. The figure is drawn when the widget is created and
redrawn in place whenever a control changes:

* a figure without animation frames lives in a :class:`plotly.graph_objects.FigureWidget`;
  a redraw restyles its traces and relayouts it in one batch (plotly.js updates the plot it
  already has instead of building a new one, so nothing flickers or piles up);
* a figure with animation frames (``FigureWidget`` cannot hold frames) is the single output
  of an :class:`ipywidgets.Output`, replaced as a whole on each redraw.

Both are widget state that the kernel sets directly: the callback never calls ``display()``
or ``figure.show()``, so nothing depends on a frontend routing outputs (papermill runs the
notebooks unattended and headless tests read the same state a browser renders).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import ipywidgets as widgets
import plotly.graph_objects as go
import plotly.io as pio

__all__ = ["LiveFigure", "figure_output"]

_PLOTLY_MIME = "application/vnd.plotly.v1+json"


def figure_output(figure: go.Figure) -> dict:
    """The notebook output (``display_data``) of a plotly figure, as JupyterLab's plotly renderer reads it."""
    return {"output_type": "display_data", "metadata": {},
            "data": {**pio.renderers["plotly_mimetype"].to_mimebundle(figure.to_dict()), "text/plain": f"<plotly figure: {figure.layout.title.text or ''}>"}}


def _same_trace_schema(shown: tuple, new: tuple) -> bool:
    """True when ``new`` has the same trace types with the same properties as ``shown`` (restyle can update them)."""
    return len(shown) == len(new) and all(
        a.type == b.type and a.to_plotly_json().keys() == b.to_plotly_json().keys() for a, b in zip(shown, new))


class LiveFigure(widgets.VBox):
    """Controls above a plotly figure that ``draw(**values)`` redraws whenever a control changes.

    Args:
        draw: ``draw(**{name: control.value})`` -> ``go.Figure``.
        controls: name -> control (slider, dropdown, checkbox); shown top to bottom in this order.

    Attributes:
        controls: the controls by name; ``children`` are the controls in order, then :attr:`view`.
        figure: the ``go.Figure`` drawn last.
        view: the ``FigureWidget`` (or, for an animated figure, the ``Output``) showing it.
    """

    def __init__(self, draw: Callable[..., go.Figure], controls: Mapping[str, widgets.ValueWidget]):
        self.draw = draw
        self.controls = dict(controls)
        self.figure = self._draw()
        if self.figure.frames:
            self.view = widgets.Output()
            self.view.outputs = (figure_output(self.figure),)
        else:
            self.view = go.FigureWidget(self.figure)
        super().__init__(children=[*self.controls.values(), self.view])
        for control in self.controls.values():
            control.observe(self.redraw, names="value")

    @property
    def values(self) -> dict[str, Any]:
        """The controls' current values by name."""
        return {name: control.value for name, control in self.controls.items()}

    def _draw(self) -> go.Figure:
        figure = self.draw(**self.values)
        if not isinstance(figure, go.Figure):
            raise TypeError(f"LiveFigure: draw must return a plotly go.Figure, got {type(figure).__name__}")
        return figure

    def redraw(self, change: Any = None) -> None:
        """Draw the figure for the current values and update the view in place (``change``: the trait event, unused)."""
        self.figure = self._draw()
        if isinstance(self.view, widgets.Output):
            self.view.outputs = (figure_output(self.figure),)
            return
        view, figure = self.view, self.figure
        with view.batch_update():
            if _same_trace_schema(view.data, figure.data):
                for shown, new in zip(view.data, figure.data):
                    shown.update(new.to_plotly_json(), overwrite=True)
            else:
                view.data = ()
                view.add_traces(figure.data)
            view.layout = figure.layout
