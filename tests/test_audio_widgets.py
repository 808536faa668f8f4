"""Widgets of notebooks 01/02, headless: set a control's value, check the figure it returns."""

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from _widget_display import displayed, redraws

from talkinghead_edu.decoupling import ContrastiveSample
from talkinghead_edu.teach.widgets import audio as wa


@dataclass
class _Phone:
    symbol: str
    start_s: float
    end_s: float


@dataclass
class _Utterance:
    audio: np.ndarray
    phonemes: list
    speaker: str = "spk"
    language: str = "en"
    text: str = "a test"


def _utterances():
    rng = np.random.default_rng(0)
    return [
        _Utterance(
            (0.1 * rng.standard_normal(640 * n)).astype(np.float32),
            [_Phone("a", 0.0, 0.1), _Phone("", 0.1, 0.2), _Phone("b", 0.2, 0.3)],
            f"s{n}",
        )
        for n in (10, 15)
    ]


def test_spectrogram_explorer_follows_its_controls():
    widget = displayed(wa.spectrogram_explorer, _utterances())
    redraws(widget, 1, 40)
    _, figure = redraws(widget, 2, 320)
    heatmap = [t for t in figure.data if isinstance(t, go.Heatmap)][0]
    assert np.asarray(heatmap.z).shape == (40, 1 + 640 * 10 // 320)
    _, figure = redraws(widget, 0, 1)
    assert "s15" in figure.layout.title.text


def test_temperature_explorer_softmax():
    similarities = [0.8, 0.5, 0.1]
    widget = displayed(wa.temperature_explorer, similarities)
    redraws(widget, 0, 1.0)
    _, figure = redraws(widget, 0, 0.1)
    bars = figure.data[0].y
    expected = torch.softmax(torch.tensor(similarities, dtype=torch.float64) / 0.1, 0).numpy()
    np.testing.assert_allclose(bars, expected, atol=1e-6)
    assert abs(sum(bars) - 1.0) < 1e-9
    # as τ grows the distribution flattens towards uniform, as τ shrinks it peaks on the largest similarity
    assert wa.softmax_over_candidates(torch.tensor(similarities), 100.0).max() < 0.34
    assert wa.softmax_over_candidates(torch.tensor(similarities), 0.01)[0] > 0.99


def test_static_figures():
    assert len(wa.mel_filter_bank_figure(n_mels=20).data) == 20
    sample = ContrastiveSample(
        np.zeros(1280, np.float32),
        np.zeros(1280, np.float32),
        np.zeros((2, 1280), np.float32),
        1,
        {"formant_shift_ratio": 1.1},
    )
    assert len(wa.contrastive_set_figure(sample).data) == 4
    assert "timbre converted" in wa.contrastive_set_figure(sample).layout.annotations[1].text
    parallel = ContrastiveSample(sample.anchor, sample.positive, sample.negatives, 0, {"parallel_row": 3})
    figure = wa.contrastive_set_figure(parallel)
    assert "another speaker" in figure.layout.annotations[1].text and "#3" in figure.layout.title.text
    features = torch.cat([torch.randn(10, 6) + 5, torch.randn(10, 6) - 5])
    fig = wa.projection_figure(features, ["a"] * 10 + ["b"] * 10, "test")
    assert [t.name for t in fig.data] == ["a", "b"]
    assert np.sign(np.mean(fig.data[0].x)) != np.sign(np.mean(fig.data[1].x))  # PC 1 separates the clusters
    with pytest.raises(ValueError, match="method"):
        wa.projection_figure(features, ["a"] * 20, "x", method="umap")


def test_results_table():
    fig = wa.results_table({"before": {"acc": 0.5, "per": 10.0}, "after": {"acc": 0.25, "per": 12.0}})
    table = fig.data[0]
    assert list(table.header.values) == ["", "acc", "per"]
    assert list(table.cells.values[0]) == ["before", "after"] and list(table.cells.values[1]) == ["0.500", "0.250"]
