"""``talkinghead-edu speak AUDIO``: an audio file -> an mp4 of a shipped talking head saying it.

    talkinghead-edu speak hello.wav --head speaker_a --style speaker_a --out hello.mp4

Writes H.264 + AAC at 25 fps with the input audio muxed in (:meth:`talkinghead_edu.pipeline.Speech.write_mp4`,
atomic), shows a progress bar and prints one summary line: seconds of audio, frames, wall
time and the frames per second of every stage. Problems (unreadable audio, unknown head or
style, an output folder that is missing or not writable) are reported in one line, exit code 2,
before any rendering starts.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Sequence

import torch

from ..audio.io import AudioLoadError
from ..pipeline import TalkingHead, available_heads
from ..utils.args import ArgumentParser, positive_int

__all__ = ["main"]


def _fail(message: str) -> int:
    print(f"talkinghead-edu speak: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="talkinghead-edu speak", description=__doc__.split("\n")[0])
    parser.add_argument("audio", type=Path, help="a WAV/FLAC/OGG file (any sample rate, mono or stereo)")
    parser.add_argument(
        "--head",
        default="speaker_a",
        help=f"a shipped head ({', '.join(available_heads()) or 'none yet'}) or a head .safetensors path",
    )
    parser.add_argument(
        "--style",
        default=None,
        help="mouth style: a translator identity, 'average', or (default) the head's own speaker",
    )
    parser.add_argument("--resolution", type=positive_int, default=256, help="frame width in pixels (multiple of 4)")
    parser.add_argument(
        "--pose",
        choices=("track", "still"),
        default="track",
        help="head motion of the target video (looped) or a still pose",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output mp4 (default: <audio name>.mp4 in the current folder)"
    )
    parser.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    out = args.out or Path.cwd() / f"{args.audio.stem}.mp4"
    if out.suffix.lower() != ".mp4":
        return _fail(f"--out must end in .mp4, got {out}")
    if not out.parent.is_dir():
        return _fail(f"cannot write {out}: the folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        return _fail(f"cannot write {out}: permission denied")
    started = time.perf_counter()
    try:
        head = TalkingHead.load(args.head, style=args.style, resolution=args.resolution, pose=args.pose)
        speech = head.speak(args.audio)
    except (AudioLoadError, ValueError, FileNotFoundError) as exc:
        return _fail(str(exc))
    speech.write_mp4(out, progress=not args.no_progress)
    print(f"{out}: {speech.summary(time.perf_counter() - started)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
