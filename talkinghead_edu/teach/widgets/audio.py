"""Interactive figures for notebooks 01 (audio features) and 02 (contrastive decoupling).

Every widget is a :class:`~talkinghead_edu.teach.widgets._display.LiveFigure`: controls over a pure
function returning a plotly ``go.Figure`` (tested headless: set ``.children[i].value``, read the view).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ...audio.features import SAMPLE_RATE, log_mel, mel_filter_bank
from ._display import LiveFigure

__all__ = [
    "spectrogram_figure",
    "spectrogram_explorer",
    "mel_filter_bank_figure",
    "softmax_over_candidates",
    "temperature_figure",
    "temperature_explorer",
    "contrastive_set_figure",
    "projection_figure",
    "results_table",
]


def spectrogram_figure(utterance, n_mels: int = 80, hop_length: int = 160) -> go.Figure:
    """Waveform, log-mel spectrogram and phoneme timeline of one utterance (shared time axis).

    Args:
        utterance: has ``.audio (L,)``, ``.phonemes`` (``symbol, start_s, end_s``), ``.speaker``, ``.text``.
        n_mels, hop_length: the analysis settings to look at.
    """
    audio = np.asarray(utterance.audio, dtype=np.float32)
    mel = log_mel(audio, n_mels=n_mels, hop_length=hop_length).numpy()  # (F, n_mels)
    seconds = np.arange(len(audio)) / SAMPLE_RATE
    step = max(1, len(audio) // 4000)  # thin the waveform for plotting
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, row_heights=[0.25, 0.6, 0.15], vertical_spacing=0.03)
    fig.add_trace(go.Scatter(x=seconds[::step], y=audio[::step], line=dict(width=1), name="waveform"), 1, 1)
    fig.add_trace(
        go.Heatmap(
            z=mel.T,
            x=np.arange(mel.shape[0]) * hop_length / SAMPLE_RATE,
            y=np.arange(n_mels),
            colorscale="Viridis",
            colorbar=dict(title="log power", len=0.55, y=0.45),
            name="log-mel",
        ),
        2,
        1,
    )
    for index, phone in enumerate(utterance.phonemes):
        if not phone.symbol:
            continue
        fig.add_trace(
            go.Scatter(
                x=[phone.start_s, phone.end_s],
                y=[index % 2, index % 2],
                mode="lines",
                line=dict(width=12),
                showlegend=False,
                hoverinfo="text",
                text=phone.symbol,
            ),
            3,
            1,
        )
        fig.add_annotation(
            x=(phone.start_s + phone.end_s) / 2,
            y=index % 2,
            text=phone.symbol,
            showarrow=False,
            row=3,
            col=1,
            font=dict(color="white", size=10),
        )
    fig.update_yaxes(title_text="amplitude", row=1, col=1)
    fig.update_yaxes(title_text="mel band", row=2, col=1)
    fig.update_yaxes(visible=False, range=[-0.7, 1.7], row=3, col=1)
    fig.update_xaxes(title_text="time (s)", row=3, col=1)
    fig.update_layout(
        height=560,
        title=(
            f"{utterance.speaker}: {utterance.text}  ({n_mels} mel bands, "
            f"hop {hop_length} = {1000 * hop_length / SAMPLE_RATE:.0f} ms)"
        ),
        showlegend=False,
    )
    return fig


def spectrogram_explorer(utterances: Sequence) -> LiveFigure:
    """Dropdown over utterances + sliders for ``n_mels`` and the hop -> :func:`spectrogram_figure`.

    Children: ``[0]`` utterance (value = index), ``[1]`` n_mels, ``[2]`` hop_length.
    """
    import ipywidgets as widgets

    options = [(f"{u.speaker} · {u.language} · {u.text[:40]}", i) for i, u in enumerate(utterances)]
    return LiveFigure(
        lambda utterance, n_mels, hop_length: spectrogram_figure(utterances[utterance], n_mels, hop_length),
        dict(
            utterance=widgets.Dropdown(options=options, value=0, description="utterance"),
            n_mels=widgets.IntSlider(value=80, min=16, max=128, step=8, description="n_mels", continuous_update=False),
            hop_length=widgets.IntSlider(
                value=160, min=80, max=640, step=80, description="hop", continuous_update=False
            ),
        ),
    )


def mel_filter_bank_figure(n_mels: int = 40, n_fft: int = 400) -> go.Figure:
    """The triangular mel filters over frequency: narrow at low frequencies, wide at high ones."""
    filters = mel_filter_bank(n_fft=n_fft, n_mels=n_mels).numpy()
    freqs = np.linspace(0, SAMPLE_RATE / 2, filters.shape[1])
    fig = go.Figure([go.Scatter(x=freqs, y=row, mode="lines", line=dict(width=1), showlegend=False) for row in filters])
    fig.update_layout(
        title=f"{n_mels} mel filters (Slaney), FFT of {n_fft} samples",
        xaxis_title="frequency (Hz)",
        yaxis_title="weight",
        height=320,
    )
    return fig


def softmax_over_candidates(similarities: torch.Tensor, temperature: float) -> torch.Tensor:
    """``softmax(similarities / τ)`` over ``[positive, negative_1..k]`` -> ``(k + 1,)`` probabilities."""
    return torch.softmax(torch.as_tensor(similarities, dtype=torch.float64) / temperature, dim=0)


def temperature_figure(similarities: Sequence[float], temperature: float = 0.1) -> go.Figure:
    """Bar chart of the InfoNCE softmax: how much of the mass the positive gets at temperature τ.

    ``-log`` of the first bar is the usual InfoNCE loss for this anchor.
    """
    probabilities = softmax_over_candidates(torch.tensor(similarities), temperature).numpy()
    labels = ["positive"] + [f"negative {i}" for i in range(1, len(probabilities))]
    colors = ["seagreen"] + ["indianred"] * (len(probabilities) - 1)
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=probabilities,
            marker_color=colors,
            text=[f"{p:.2f}" for p in probabilities],
            textposition="outside",
        )
    )
    fig.update_layout(
        title=(
            f"τ = {temperature:.3f}: positive gets {probabilities[0]:.2f}, "
            f"loss -log p = {-np.log(probabilities[0]):.3f}"
        ),
        yaxis=dict(range=[0, 1.1], title="softmax probability"),
        height=340,
    )
    return fig


def temperature_explorer(similarities: Sequence[float]) -> LiveFigure:
    """A log-scale τ slider over :func:`temperature_figure`; child ``[0]`` is τ."""
    import ipywidgets as widgets

    return LiveFigure(
        lambda temperature: temperature_figure(similarities, temperature),
        dict(
            temperature=widgets.FloatLogSlider(value=0.1, base=10, min=-2.5, max=0.5, step=0.05, description="τ"),
        ),
    )


def contrastive_set_figure(sample, sample_rate: int = SAMPLE_RATE) -> go.Figure:
    """Log-mel spectrograms of a Figure-3 set: anchor, its positive, the negatives.

    The positive is another speaker's aligned recording when ``sample.timbre`` holds
    ``"parallel_row"`` (:func:`~talkinghead_edu.decoupling.parallel_positives`), else the anchor timbre-converted.
    """
    parallel = "parallel_row" in sample.timbre
    positive_name = "positive (another speaker)" if parallel else "positive (timbre converted)"
    clips = [("anchor", sample.anchor), (positive_name, sample.positive)] + [
        (f"negative {i + 1}", n) for i, n in enumerate(sample.negatives)
    ]
    fig = make_subplots(rows=1, cols=len(clips), subplot_titles=[name for name, _ in clips], horizontal_spacing=0.02)
    for col, (_, clip) in enumerate(clips, start=1):
        mel = log_mel(np.asarray(clip, dtype=np.float32)).numpy()
        fig.add_trace(go.Heatmap(z=mel.T, colorscale="Viridis", showscale=False), 1, col)
        fig.update_xaxes(showticklabels=False, row=1, col=col)
        fig.update_yaxes(showticklabels=col == 1, row=1, col=col)
    if parallel:
        described = f"recording of the same words by other speaker #{sample.timbre['parallel_row']}, time-aligned"
    else:
        described = ", ".join(f"{k} {v:.2f}" for k, v in sample.timbre.items() if np.isscalar(v))
    fig.update_layout(height=300, title=f"anchor = segment {sample.anchor_index}; positive: {described}")
    return fig


def projection_figure(features: torch.Tensor, labels: Sequence[str], title: str, method: str = "pca") -> go.Figure:
    """2-D projection of ``(N, D)`` features coloured by label.

    Args:
        method: ``"pca"`` (top two principal components) or ``"tsne"`` (needs scikit-learn,
            an optional extra: ``pip install scikit-learn``).
    """
    x = torch.as_tensor(features, dtype=torch.float32)
    x = x - x.mean(0)
    if method == "pca":
        _, _, v = torch.pca_lowrank(x, q=2, center=False)
        xy = (x @ v[:, :2]).numpy()
        axes = ("PC 1", "PC 2")
    elif method == "tsne":
        from sklearn.manifold import TSNE

        xy = TSNE(n_components=2, perplexity=min(30.0, (len(x) - 1) / 3), init="pca", random_state=0).fit_transform(
            x.numpy()
        )
        axes = ("t-SNE 1", "t-SNE 2")
    else:
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")
    fig = go.Figure()
    for name in sorted(set(labels)):
        mask = np.array([label == name for label in labels])
        fig.add_trace(go.Scattergl(x=xy[mask, 0], y=xy[mask, 1], mode="markers", marker=dict(size=5), name=str(name)))
    fig.update_layout(title=title, height=380, xaxis_title=axes[0], yaxis_title=axes[1])
    return fig


def results_table(
    results: dict[str, dict[str, float]], columns: Sequence[str] | None = None, digits: int = 3
) -> go.Figure:
    """A plotly table: one row per entry of ``results`` (name -> {metric: value}), one column per metric."""
    columns = list(columns or next(iter(results.values())).keys())
    cells = [list(results)] + [[f"{row[c]:.{digits}f}" for row in results.values()] for c in columns]
    fig = go.Figure(go.Table(header=dict(values=[""] + columns, align="left"), cells=dict(values=cells, align="left")))
    return fig.update_layout(height=60 + 32 * len(results), margin=dict(l=0, r=0, t=10, b=0))
