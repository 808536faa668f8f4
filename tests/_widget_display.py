"""What a notebook frontend draws for a widget, read headless.

A widget is created and displayed inside a captured IPython display (the display publisher
is swapped for a capturing one). The only thing displayed must be the widget itself; what it
draws is then read from the widget tree, as the frontend renders it: the plotly outputs held by
its ``Output`` widgets. A widget that computes a figure but never puts it in its tree
(``interactive`` without ``auto_display``) draws nothing.
"""

from __future__ import annotations

import base64
import json

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from IPython.core.interactiveshell import InteractiveShell
from IPython.display import display
from IPython.utils.capture import capture_output

_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_PLOTLY = "application/vnd.plotly.v1+json"


def displayed(factory, *args, **kwargs) -> widgets.Widget:
    """``factory(*args, **kwargs)`` created and displayed in a captured display; asserts it showed only itself."""
    InteractiveShell.instance()
    with capture_output() as captured:
        widget = factory(*args, **kwargs)
        display(widget)
    shown = [output.data for output in captured.outputs]
    assert len(shown) == 1 and shown[0].get(_WIDGET_VIEW, {}).get("model_id") == widget.model_id, (
        f"expected exactly the widget's own view to be displayed, got {[list(d) for d in shown]}"
    )
    return widget


def _decode(value):
    """Plotly's JSON with its typed arrays (``{"dtype", "bdata", "shape"}``, base64) turned back into numpy arrays."""
    if isinstance(value, dict) and "bdata" in value and "dtype" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        return array.reshape([int(n) for n in str(shape).split(",")] if shape is not None else -1)
    if isinstance(value, dict):
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def _figures(widget: widgets.Widget):
    if isinstance(widget, widgets.Output):
        for output in widget.outputs:
            if _PLOTLY in output.get("data", {}):
                yield go.Figure(_decode({k: v for k, v in output["data"][_PLOTLY].items() if k != "config"}))
    for child in getattr(widget, "children", ()):
        yield from _figures(child)


def drawn(widget: widgets.Widget) -> go.Figure:
    """The one figure the widget draws now (assertion error when it draws none or several)."""
    figures = list(_figures(widget))
    assert len(figures) == 1, f"the widget draws {len(figures)} figures, expected exactly one"
    return figures[0]


def _data_json(figure: go.Figure) -> str:
    return pio.to_json({"data": figure.to_plotly_json()["data"]}, validate=False)


def redraws(widget: widgets.Widget, control: int, value) -> tuple[go.Figure, go.Figure]:
    """Set ``widget.children[control].value = value``; assert a figure is drawn before and after with different data."""
    before = drawn(widget)
    widget.children[control].value = value
    after = drawn(widget)
    assert json.loads(_data_json(before)) != json.loads(_data_json(after)), (
        f"setting {widget.children[control].description!r} to {value!r} did not change the drawn figure's data"
    )
    return before, after
