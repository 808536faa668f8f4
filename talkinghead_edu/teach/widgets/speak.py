"""The talking-head demo of notebook 08: pick or upload audio, pick head and style, press a button.

The widget is a thin ``ipywidgets`` shell; its callback is :func:`speak_to_mp4`, and the
pieces it uses (:func:`bundled_clips`, :func:`save_upload`, :func:`side_by_side_mp4`,
:func:`video_html`) are plain functions tested headless in ``tests/test_speak_widget.py``.
"""

from __future__ import annotations

import base64
import functools
from pathlib import Path

import ipywidgets as widgets
import numpy as np

from ...paths import dataset_root
from ...pipeline import Speech, TalkingHead, available_heads, write_mp4
from ...utils.io import atomic_write_bytes

__all__ = [
    "bundled_clips",
    "save_upload",
    "load_head",
    "speak_to_mp4",
    "side_by_side_mp4",
    "video_html",
    "speak_widget",
]


def bundled_clips(per_speaker: int = 1) -> dict[str, Path]:
    """``{"<voice>: <file name>": path}`` for the first ``per_speaker`` bundled recordings of every voice."""
    clips = {}
    for folder in sorted(p for p in (dataset_root() / "speech").iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.flac"))[:per_speaker]:
            clips[f"{folder.name}: {path.stem}"] = path
    return clips


def save_upload(value, folder: str | Path) -> Path:
    """Write the file of an ``ipywidgets.FileUpload`` value (ipywidgets 8: a tuple of dicts with
    ``name`` and ``content``) into ``folder`` (atomically) and return its path.

    Raises:
        ValueError: nothing was uploaded.
    """
    if not value:
        raise ValueError("no file uploaded yet: choose a recording with the upload button first")
    item = value[0]
    return atomic_write_bytes(Path(folder) / Path(item["name"]).name, bytes(item["content"]))


@functools.lru_cache(maxsize=4)
def load_head(head: str, style: str, resolution: int, pose: str = "track") -> TalkingHead:
    """:meth:`TalkingHead.load`, cached: the widget reloads nothing when only the audio changes."""
    return TalkingHead.load(head, style=style, resolution=resolution, pose=pose)


def speak_to_mp4(
    head: str,
    style: str,
    audio,
    out: str | Path,
    resolution: int = 256,
    pose: str = "track",
    progress: bool = True,
    sample_rate: int | None = None,
) -> tuple[Path, Speech]:
    """The widget's callback: ``audio`` (a file path, or an array at ``sample_rate``) spoken by ``head`` in ``style``
    -> ``out`` (mp4 with sound)."""
    speech = load_head(head, style, resolution, pose).speak(audio, sample_rate)
    return speech.write_mp4(out, progress=progress), speech


def side_by_side_mp4(
    head: str,
    styles: tuple[str, str],
    audio,
    out: str | Path,
    resolution: int = 256,
    progress: bool = True,
    sample_rate: int | None = None,
) -> Path:
    """The same audio (a file path, or an array at ``sample_rate``) in two mouth styles,
    side by side in one mp4 (width ``2W``)."""
    left, right = (load_head(head, style, resolution).speak(audio, sample_rate) for style in styles)
    frames = (np.concatenate(pair, axis=1) for pair in zip(left.frames(progress=progress), right.frames()))
    return write_mp4(out, frames, left.audio, left.sample_rate)


def video_html(path: str | Path, width: int = 384) -> str:
    """An HTML5 ``<video>`` with the mp4 embedded (base64), so it plays inline with its sound."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<video controls width="{width}" src="data:video/mp4;base64,{data}"></video>'


def speak_widget(folder: str | Path, resolution: int = 256, styles: list[str] | None = None) -> widgets.VBox:
    """Clip or upload, head and style pickers, a button; the video appears below with its sound.

    Args:
        folder: where uploads and the produced mp4 files go.
        resolution: frame width of the videos.
        styles: the style choices (default: ``"average"`` plus the translator's identities,
            read when the first head loads).
    """
    from IPython.display import HTML, display

    folder = Path(folder)
    clips = bundled_clips()
    clip = widgets.Dropdown(options=list(clips) + ["(my upload)"], description="audio")
    upload = widgets.FileUpload(accept="audio/*,.wav,.flac,.ogg", multiple=False, description="upload")
    head = widgets.Dropdown(options=available_heads(), description="head")
    style = widgets.Dropdown(options=styles or ["average"], description="style")
    button = widgets.Button(description="speak", button_style="primary", icon="play")
    output = widgets.Output()

    def refresh_styles(*_):
        known = load_head(head.value, "average", resolution).translator.speakers
        style.options = ["average", *known]
        style.value = head.value if head.value in known else "average"

    def on_click(_):
        output.clear_output()
        with output:
            try:
                audio = save_upload(upload.value, folder) if clip.value == "(my upload)" else clips[clip.value]
                path, speech = speak_to_mp4(
                    head.value, style.value, audio, folder / f"speak_{head.value}_{style.value}.mp4", resolution
                )
            except ValueError as exc:  # bad audio, nothing uploaded ...: say it in the output area
                print(f"error: {exc}")
                return
            display(HTML(video_html(path, width=max(256, resolution))))
            print(speech.summary())

    if styles is None:
        head.observe(refresh_styles, names="value")
        refresh_styles()
    button.on_click(on_click)
    return widgets.VBox([widgets.HBox([clip, upload]), widgets.HBox([head, style, button]), output])
