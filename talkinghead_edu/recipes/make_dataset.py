"""``talkinghead-edu make-dataset``: regenerate ``datasets_small/`` deterministically from a seed.

The speech part is :mod:`talkinghead_edu.synth.speech_generate` (needs espeak-ng), the video
part :mod:`talkinghead_edu.synth.video_generate`; see ``datasets_small/README.md``.

Usage::

    talkinghead-edu make-dataset [--part speech|video|all] [--seed N] [--root DIR] [--remap-only | --motion-only]
"""

from __future__ import annotations

from pathlib import Path

from ..data.speech import load_head_motion_map
from ..paths import dataset_root
from ..synth.speech_generate import (
    DEFAULT_SEED,
    generate_speech_part,
    regenerate_speech_motion,
    remap_speech_expressions,
)
from ..synth.video_generate import generate_video_part
from ..utils.args import ArgumentParser, existing_file, non_negative_int, positive_int

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(
        prog="talkinghead-edu make-dataset", description="Regenerate datasets_small/ deterministically from a seed."
    )
    parser.add_argument("--part", choices=("speech", "video", "all"), default="all", help="which part to regenerate")
    parser.add_argument(
        "--seed", type=non_negative_int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})"
    )
    parser.add_argument("--root", type=Path, default=None, help="output folder (default: the bundled datasets_small/)")
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "--remap-only",
        action="store_true",
        help="speech: only relink the stored articulation curves to the current head asset",
    )
    only.add_argument(
        "--motion-only",
        action="store_true",
        help="speech: only recompute the motion from the stored phoneme times (after a motion-model change)",
    )
    parser.add_argument("--workers", type=positive_int, default=2, help="espeak worker processes (default 2)")
    parser.add_argument(
        "--head", type=existing_file, default=None, help="head asset npz (default: the bundled procedural head)"
    )
    args = parser.parse_args(argv)
    root = args.root or dataset_root()
    if args.part in ("speech", "all"):
        head = load_head_motion_map(args.head)
        if args.motion_only:
            print(f"rewrote the motion of {regenerate_speech_motion(root, head)} utterances in {root / 'speech'}")
        elif args.remap_only:
            print(f"remapped {remap_speech_expressions(root, head)} utterances in {root / 'speech'}")
        else:
            print(f"wrote {generate_speech_part(root, args.seed, args.workers, head)}")
    if args.part in ("video", "all"):
        generate_video_part(root, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
