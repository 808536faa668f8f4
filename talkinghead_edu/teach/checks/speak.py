"""Self-checks of notebook 08 (the talking head speaks): the looped head-pose track, the audio of each
video frame, a recording made ready for the encoder, and the frame rate of the whole pipeline."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ...audio.features import video_frame_chunks
from ...audio.io import prepare_waveform
from ...conventions import SAMPLE_RATE
from ...pipeline import STAGES, ping_pong
from ._core import compare_to_library

__all__ = [
    "check_ping_pong",
    "check_video_frame_chunks",
    "library_mono_16k",
    "check_mono_16k",
    "library_overall_fps",
    "check_overall_fps",
]


def _one_per_trial(makers: list[Callable[[torch.Generator], tuple]]) -> Callable[[torch.Generator], tuple]:
    """``make_inputs`` that calls ``makers`` in turn, one per trial, so that the edge cases are always tried."""
    remaining = iter(makers)
    return lambda generator: next(remaining)(generator)


def check_ping_pong(user_fn: Callable[[int, int], int]) -> bool:
    """``user_fn(t, n) -> int``: the row of an ``n``-frame pose track shown at output frame ``t`` when the track
    is looped forwards and backwards (``0 1 … n−1 n−2 … 1 0 1 …``), so that it never jumps."""

    def table(fn: Callable[[int, int], int]) -> Callable[[int], torch.Tensor]:
        # three round trips and a bit: every turning point, for t = 0 … 6 (n − 1) + 2
        return lambda n: torch.tensor([float(fn(t, n)) for t in range(6 * max(n - 1, 1) + 3)], dtype=torch.float64)

    sizes = (5, 1, 2, 3, 12)
    return compare_to_library(
        "the looped pose track (ping-pong)",
        table(user_fn),
        table(ping_pong),
        _one_per_trial([lambda generator, n=n: (n,) for n in sizes]),
        trials=len(sizes),
        hint=(
            "The loop 0 … n−1 … 1 repeats every 2(n − 1) frames; inside one period, k ≥ n walks back as 2(n − 1) − k. "
            "A track of one frame always shows row 0. Output index t of the comparison is the argument t."
        ),
    )


def check_video_frame_chunks(user_fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """``user_fn(waveform (L,)) -> (T, 640)``: the 16 kHz samples of every 25 fps frame, the last one zero-padded."""

    lengths = (1000, 640, 1, 1920, 3001)  # the first: one whole frame and 360 samples of the next
    return compare_to_library(
        "the audio of each video frame",
        user_fn,
        video_frame_chunks,
        _one_per_trial([lambda generator, n=n: (torch.randn(n, generator=generator),) for n in lengths]),
        trials=len(lengths),
        hint=(
            "16000 / 25 = 640 samples per frame, T = ceil(L / 640): pad the clip with zeros to T · 640 samples "
            "(none when L is already a multiple of 640), then reshape to (T, 640)."
        ),
    )


def library_mono_16k(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(L, C)`` float samples at ``sample_rate`` -> ``(L16,)`` mono at 16 kHz: what
    :func:`~talkinghead_edu.audio.prepare_waveform` (used by the pipeline) gives the audio encoder."""
    return prepare_waveform(samples, sample_rate, SAMPLE_RATE, name="recording")


def check_mono_16k(user_fn: Callable[[np.ndarray, int], np.ndarray]) -> bool:
    """``user_fn(samples (L, C) float32, sample_rate) -> (L16,)``: the channels averaged, then resampled to 16 kHz
    by the exact rational ratio (polyphase filter)."""

    def make_inputs(rate: int, channels: int) -> Callable[[torch.Generator], tuple]:
        def make(generator: torch.Generator) -> tuple:
            t = torch.arange(rate // 10, dtype=torch.float64) / rate  # 0.1 s
            tones = torch.stack([torch.sin(2 * torch.pi * (200 + 300 * c) * t) for c in range(channels)], dim=1)
            noise = 0.05 * torch.randn(len(t), channels, generator=generator, dtype=torch.float64)
            return (0.4 * tones + noise).float().numpy(), rate

        return make

    cases = ((44_100, 2), (48_000, 2), (16_000, 2), (22_050, 1), (8_000, 3))
    return compare_to_library(
        "a recording made ready for the encoder (mono, 16 kHz)",
        lambda samples, rate: torch.as_tensor(np.asarray(user_fn(samples, rate), dtype=np.float32)),
        lambda samples, rate: torch.from_numpy(library_mono_16k(samples, rate)),
        _one_per_trial([make_inputs(*case) for case in cases]),
        trials=len(cases),
        atol=1e-5,
        hint=(
            "Average the channels (axis 1), then scipy.signal.resample_poly(mono, up, down) with "
            "up/down = 16000/rate reduced by their gcd (44100 Hz: up 160, down 441); at 16 kHz nothing to resample."
        ),
    )


def library_overall_fps(stage_fps: dict[str, float]) -> float:
    """The frame rate of the whole pipeline given each stage's (every stage handles every frame once, one stage
    after the other): frames / total seconds, the way :meth:`~talkinghead_edu.pipeline.Speech.summary` computes it
    from the stages' timings."""
    frames = 100
    timings = {stage: frames / fps for stage, fps in stage_fps.items()}  # seconds spent in each stage
    return frames / sum(timings.values())


def check_overall_fps(user_fn: Callable[[dict[str, float]], float]) -> bool:
    """``user_fn({stage: frames per second}) -> float``: the frames per second of the stages run in sequence."""

    def make_inputs(generator: torch.Generator) -> tuple:
        fps = 10 ** (0.3 + 3 * torch.rand(len(STAGES), generator=generator, dtype=torch.float64))  # 2 … 2000 FPS
        return ({stage: float(value) for stage, value in zip(STAGES, fps)},)

    return compare_to_library(
        "the frame rate of the whole pipeline",
        lambda stage_fps: torch.as_tensor(float(user_fn(stage_fps)), dtype=torch.float64),
        lambda stage_fps: torch.as_tensor(library_overall_fps(stage_fps), dtype=torch.float64),
        make_inputs,
        atol=1e-9,
        rtol=1e-9,
        hint=(
            "Not the mean, not the minimum: a stage at f frames/s spends 1/f seconds on each frame, and the stages "
            "run one after the other — add the seconds per frame."
        ),
    )
