"""Headless tests of the tour notebook's figures and widgets."""

from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go
import pytest
from _widget_display import displayed, drawn, redraws

from talkinghead_edu.data.speech import ARTICULATION_NAMES, Phoneme
from talkinghead_edu.data.video_dataset import list_video_speakers, load_video_dataset
from talkinghead_edu.semantics import LABEL_COLORS
from talkinghead_edu.teach.widgets.tour import (
    label_image,
    phoneme_spectrogram_figure,
    pipeline_diagram,
    style_comparison_figure,
    video_frame_figure,
    video_scrubber,
)


@pytest.fixture(scope="module")
def video():
    return load_video_dataset(list_video_speakers()[0])


def test_pipeline_diagram_names_the_equations():
    figure = pipeline_diagram()
    texts = " ".join(a.text for a in figure.layout.annotations)
    for equation in ("eq 1", "eqs 2–3", "eqs 4–8", "eq 10", "eqs 11–15", "eqs 16–18", "eq 19"):
        assert equation in texts


def test_phoneme_spectrogram_marks_every_phoneme():
    audio = np.sin(2 * np.pi * 220 * np.arange(16000) / 16000).astype(np.float32)
    phonemes = [Phoneme("", "sil", 0.0, 0.2), Phoneme("a", "a", 0.2, 0.7), Phoneme("m", "pbm", 0.7, 1.0)]
    figure = phoneme_spectrogram_figure(audio, phonemes)
    heatmap = figure.data[0]
    assert isinstance(heatmap, go.Heatmap) and heatmap.z.shape == (80, 101)  # 80 mel bands, 10 ms hop
    labels = [a.text for a in figure.layout.annotations]
    assert labels == ["∅", "a", "m"]
    assert [s.x0 for s in figure.layout.shapes] == [0.0, 0.2, 0.7]


def _decode(source: str) -> np.ndarray:
    import base64
    import io

    from PIL import Image

    assert source.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))))


def test_label_image_uses_the_shared_colours_and_outlines_the_mask():
    labels = np.array([[0, 2], [5, 8]], np.uint8)
    np.testing.assert_array_equal(label_image(labels)[1, 0], (LABEL_COLORS[5] * 255).astype(np.uint8))
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    outlined = label_image(np.zeros((5, 5), np.uint8), outline=mask)
    assert (outlined[1, 1] == 255).all() and (outlined[2, 2] == 0).all() and (outlined[0, 0] == 0).all()


def test_video_scrubber_draws_and_redraws_the_frame(video):
    scrubber = displayed(video_scrubber, video)
    first, figure = redraws(scrubber, 0, 7)
    assert "frame 0" in first.layout.annotations[0].text
    assert "frame 7" in figure.layout.annotations[0].text
    np.testing.assert_array_equal(_decode(figure.data[0].source), video.frames[7])
    landmarks = figure.data[1]
    np.testing.assert_allclose(landmarks.x, video.landmarks2d[7, :, 0] - 0.5, rtol=1e-6)
    np.testing.assert_array_equal(_decode(figure.data[2].source), label_image(video.labels[7], video.face_mask[7]))
    redraws(scrubber, 1, False)  # landmarks off
    assert not any(isinstance(trace, go.Scatter) and trace.name == "68 landmarks" for trace in drawn(scrubber).data)
    with pytest.raises(IndexError):
        video_frame_figure(video, video.num_frames)


def test_style_comparison_plots_each_speaker():
    T = 50
    articulation = np.zeros((T, len(ARTICULATION_NAMES)), np.float32)
    articulation[:, ARTICULATION_NAMES.index("smile")] = 0.3
    jaw = np.zeros((T, 3), np.float32)
    jaw[:, 0] = np.deg2rad(10.0)
    utterances = [
        SimpleNamespace(speaker=name, jaw_pose=jaw * k, articulation=articulation * k)
        for k, name in ((1, "a"), (2, "b"))
    ]
    figure = style_comparison_figure(utterances)
    jaw_traces = [t for t in figure.data if t.xaxis == "x"]
    assert [t.name for t in jaw_traces] == ["a", "b"]
    np.testing.assert_allclose(jaw_traces[1].y, 20.0, rtol=1e-5)
    smile = [t for t in figure.data if t.yaxis == "y4"]
    np.testing.assert_allclose(smile[0].y, 0.3, rtol=1e-6)
