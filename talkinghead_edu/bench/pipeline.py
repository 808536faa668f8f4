"""Benchmark: the whole inference pipeline (paper Figure 2) on this machine.

Two modes (run the long one as its own process to read its peak memory, e.g. under
``/usr/bin/time -v``):

    python -m talkinghead_edu.bench pipeline [--seconds 10] [--head speaker_a] [--resolution 256]
    python -m talkinghead_edu.bench pipeline --motion-only --seconds 600

The default renders a ``--seconds`` clip (bundled speech of the other video speaker, tiled)
through every stage into an mp4 and reports the wall time and frames per second of every
stage (:data:`talkinghead_edu.pipeline.STAGES`). ``--motion-only`` stops at the FLAME
parameters (audio loading + windowed encoder + translator), the part whose memory used to
grow with the square of the duration. Both report the process's peak resident memory.
Writes ``pipeline[_motion].json`` / ``.md`` into ``--out`` (atomically).
"""

from __future__ import annotations

import argparse
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ..conventions import SAMPLE_RATE
from ..data.video_dataset import list_video_speakers, load_video_dataset
from ..paths import cache_dir
from ..pipeline import STAGES, TalkingHead
from ._report import write_report


def bench_audio(head: str, seconds: float) -> np.ndarray:
    """``seconds`` of speech at 16 kHz: the other video speaker's recording, tiled."""
    others = [s for s in list_video_speakers() if s != head] or list_video_speakers()
    audio = load_video_dataset(others[0], resolution=16).audio
    return np.tile(audio, int(np.ceil(seconds * SAMPLE_RATE / len(audio))))[: int(seconds * SAMPLE_RATE)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m talkinghead_edu.bench pipeline", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--head", default="speaker_a")
    parser.add_argument("--style", default=None)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--pose", default="track")
    parser.add_argument(
        "--motion-only", action="store_true", help="stop at the FLAME parameters (long-audio memory test)"
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <cache>/bench)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    audio = bench_audio(args.head, args.seconds)
    head = TalkingHead.load(args.head, style=args.style, resolution=args.resolution, pose=args.pose)
    head.speak(audio[:SAMPLE_RATE], sample_rate=SAMPLE_RATE).frames().__next__()  # warm-up (JIT compilation)
    started = time.perf_counter()
    speech = head.speak(audio, sample_rate=SAMPLE_RATE)
    if not args.motion_only:
        with tempfile.TemporaryDirectory() as folder:
            speech.write_mp4(Path(folder) / "bench.mp4", progress=True)
    wall = time.perf_counter() - started
    result = {
        "mode": "motion only (audio -> FLAME parameters)" if args.motion_only else "audio -> mp4",
        "audio_seconds": speech.duration,
        "frames": speech.num_frames,
        "wall_seconds": wall,
        "seconds_per_stage": speech.timings,
        "fps_per_stage": {k: v for k, v in speech.fps().items() if not (args.motion_only and k not in STAGES[:2])},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "head": repr(head),
        "torch_threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "load_average": list(__import__("os").getloadavg()),
    }
    out = args.out or cache_dir() / "bench"
    name = "pipeline_motion" if args.motion_only else "pipeline"
    stages = [k for k in STAGES if k in result["fps_per_stage"]]
    table = (
        "| mode | audio (s) | frames | wall (s) | peak RSS (MB) | "
        + " | ".join(f"{k} FPS" for k in stages)
        + " |\n"
        + "|---" * (5 + len(stages))
        + "|\n"
        + f"| {result['mode']} | {speech.duration:.1f} | {speech.num_frames} | {wall:.1f} | "
        f"{result['peak_rss_mb']:.0f} | " + " | ".join(f"{result['fps_per_stage'][k]:.1f}" for k in stages) + " |\n"
    )
    write_report(out, name, result, table)
    print(table)
    print(f"load average {result['load_average']}")
    return 0
