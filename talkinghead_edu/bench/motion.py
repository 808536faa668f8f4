"""Benchmark of the motion translator: ``python -m talkinghead_edu.bench motion [--out DIR] [--runs 3]``.

Times (median of ``--runs`` after one warm-up, no autograd) how long the shipped translator
(``datasets_small/checkpoints/motion_translator.safetensors``) takes to turn audio of several
lengths into FLAME motion: the decoder alone on precomputed features (single pass up to 512
frames, seam-free chunks beyond) and the whole ``translate(audio, speaker)`` including the
feature extractor it was trained with. Writes ``motion.json`` and ``motion.md`` (atomically).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from ..conventions import SAMPLE_RATE
from ..utils.args import ArgumentParser, existing_file, positive_int
from ._report import write_report
from ._timing import median_seconds


def main(argv: list[str] | None = None) -> int:
    from ..motion import load_translator
    from ..paths import dataset_root

    parser = ArgumentParser(prog="python -m talkinghead_edu.bench motion", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", type=Path, default=Path("bench_results"), help="output folder (default bench_results/)"
    )
    parser.add_argument("--runs", type=positive_int, default=3)
    parser.add_argument("--seconds", type=float, nargs="+", default=[2.0, 10.0, 60.0], help="audio lengths")
    parser.add_argument(
        "--checkpoint", type=existing_file, default=None, help="translator checkpoint (default: the shipped one)"
    )
    parser.add_argument("--threads", type=positive_int, default=1)
    args = parser.parse_args(argv)
    if args.runs < 1 or min(args.seconds) < 0.04:
        parser.error("--runs must be >= 1 and --seconds >= 0.04 (one frame)")
    torch.set_num_threads(args.threads)
    translator = load_translator(args.checkpoint or dataset_root() / "checkpoints" / "motion_translator.safetensors")
    speaker = translator.speakers[0]
    generator = torch.Generator().manual_seed(0)
    rows = []
    for seconds in args.seconds:
        frames = max(1, round(seconds * 25))
        audio = 0.1 * torch.randn(640 * frames, generator=generator)
        features = translator.feature_extractor(audio[None])[0]
        decode_s = median_seconds(lambda: translator.predict(features, speaker), args.runs)
        translate_s = median_seconds(lambda: translator.translate(audio, speaker, sample_rate=SAMPLE_RATE), args.runs)
        rows.append(
            {
                "seconds": frames / 25,
                "frames": frames,
                "decoder_s": decode_s,
                "translate_s": translate_s,
                "realtime_factor": (frames / 25) / translate_s,
            }
        )
    result = {
        "features": translator.feature_encoder,
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "rows": rows,
    }
    lines = [
        f"Motion translator ({translator.feature_encoder} features, {args.threads} thread(s), {result['cpu']})",
        "",
        "| audio (s) | frames | decoder (ms) | translate (ms) | × real time |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['seconds']:.1f} | {r['frames']} | {1e3 * r['decoder_s']:.1f} | {1e3 * r['translate_s']:.1f} | "
        f"{r['realtime_factor']:.0f} |"
        for r in rows
    ]
    table = "\n".join(lines) + "\n"
    write_report(args.out, "motion", result, table)
    print(table)
    return 0
