"""The ``talkinghead-edu`` command.

Each subcommand lives in a recipe (or the synthetic world) and is imported only when used. Every subcommand function takes ``argv``.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

# name -> (module, function, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "course": ("talkinghead_edu.cli", "open_course", "open the notebooks in JupyterLab"),
    "build-head": ("talkinghead_edu.synth.head_builder", "main", "rebuild the bundled procedural FLAME-compatible head"),
    "make-dataset": ("talkinghead_edu.recipes.make_dataset", "main", "regenerate datasets_small (speech/video) from a seed"),
    "train-audio": ("talkinghead_edu.recipes.train_audio", "main", "train the ASR encoder or the decoupled universal encoder"),
    "train-motion": ("talkinghead_edu.recipes.train_motion", "main", "train and evaluate the motion translator and its ablations"),
    "speak": ("talkinghead_edu.recipes.speak", "main", "an audio file -> an mp4 of a shipped talking head saying it"),
    "train-head": ("talkinghead_edu.recipes.train_head", "main", "train and ship a Gaussian head of a bundled target speaker"),
    "bench": ("talkinghead_edu.bench", "main", "run a benchmark (same as python -m talkinghead_edu.bench)"),
}


def open_course(argv: list[str]) -> int:
    """Start JupyterLab on the ``notebooks/`` folder of the checkout."""
    parser = argparse.ArgumentParser(prog="talkinghead-edu course", description=open_course.__doc__)
    parser.add_argument("--notebooks", type=Path, default=None, help="folder with the notebooks (default: the checkout's notebooks/)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    args, rest = parser.parse_known_args(argv)
    folder = args.notebooks or Path(__file__).resolve().parent.parent / "notebooks"
    if not folder.is_dir():
        folder = Path.cwd() / "notebooks"
    if not folder.is_dir():
        parser.error(f"no notebooks folder at {folder}; pass --notebooks PATH (the checkout's notebooks/)")
    from jupyterlab.labapp import main as lab_main

    lab_argv = [f"--ServerApp.root_dir={folder}"] + (["--no-browser"] if args.no_browser else []) + rest
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        lab_argv.append("--allow-root")  # containers and hosted machines often run as root
    return lab_main(lab_argv) or 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in SUBCOMMANDS:
        lines = [f"  {name:<14} {help_}" for name, (_, _, help_) in SUBCOMMANDS.items()]
        print("usage: talkinghead-edu SUBCOMMAND [options]\n\nsubcommands:\n" + "\n".join(lines))
        if argv and argv[0] not in {"-h", "--help"}:
            print(f"\nerror: unknown subcommand {argv[0]!r}", file=sys.stderr)
            return 2
        return 0
    module_name, function_name, _ = SUBCOMMANDS[argv[0]]
    function = getattr(importlib.import_module(module_name), function_name)
    return int(function(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
