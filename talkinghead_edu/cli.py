"""The ``talkinghead-edu`` command.

Each subcommand lives in a recipe (or the synthetic world) and is imported only when used. Every subcommand
function takes ``argv``.

Bad input (a wrong option, a missing or damaged file) ends in one line on stderr and exit
status 2; ``talkinghead-edu --debug SUBCOMMAND ...`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from .utils.args import ArgumentParser, run_main

# name -> (module, function, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "course": ("talkinghead_edu.cli", "open_course", "open the notebooks in JupyterLab"),
    "build-head": (
        "talkinghead_edu.synth.head_builder",
        "main",
        "rebuild the bundled procedural FLAME-compatible head",
    ),
    "make-dataset": (
        "talkinghead_edu.recipes.make_dataset",
        "main",
        "regenerate datasets_small (speech/video) from a seed",
    ),
    "train-audio": (
        "talkinghead_edu.recipes.train_audio",
        "main",
        "train the ASR encoder or the decoupled universal encoder",
    ),
    "train-motion": (
        "talkinghead_edu.recipes.train_motion",
        "main",
        "train and evaluate the motion translator and its ablations",
    ),
    "speak": ("talkinghead_edu.recipes.speak", "main", "an audio file -> an mp4 of a shipped talking head saying it"),
    "train-head": (
        "talkinghead_edu.recipes.train_head",
        "main",
        "train and ship a Gaussian head of a bundled target speaker",
    ),
    "bench": ("talkinghead_edu.bench", "main", "run a benchmark (same as python -m talkinghead_edu.bench)"),
}


def open_course(argv: list[str]) -> int:
    """Start JupyterLab on the ``notebooks/`` folder of the checkout."""
    parser = ArgumentParser(prog="talkinghead-edu course", description=open_course.__doc__)
    parser.add_argument(
        "--notebooks", type=Path, default=None, help="folder with the notebooks (default: the checkout's notebooks/)"
    )
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    args, rest = parser.parse_known_args(argv)
    if args.notebooks is not None:  # a folder the user named is used or refused, never replaced by another one
        folder = args.notebooks
        if not folder.is_dir():
            parser.error(f"--notebooks: {folder} {'is not a folder' if folder.exists() else 'does not exist'}")
    else:
        checkout = Path(__file__).resolve().parent.parent / "notebooks"
        folder = checkout if checkout.is_dir() else Path.cwd() / "notebooks"
        if not folder.is_dir():
            parser.error(
                f"no notebooks folder at {checkout} or {folder}; pass --notebooks PATH (the checkout's notebooks/)"
            )
    from jupyterlab.labapp import main as lab_main

    lab_argv = [f"--ServerApp.root_dir={folder}"] + (["--no-browser"] if args.no_browser else []) + rest
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        lab_argv.append("--allow-root")  # containers and hosted machines often run as root
    return lab_main(lab_argv) or 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = bool(argv) and argv[0] == "--debug"
    argv = argv[1:] if debug else argv
    if not argv or argv[0] in {"-h", "--help"}:
        lines = [f"  {name:<14} {help_}" for name, (_, _, help_) in SUBCOMMANDS.items()]
        print(
            "usage: talkinghead-edu [--debug] SUBCOMMAND [options]\n\nsubcommands:\n"
            + "\n".join(lines)
            + "\n\n--debug: show the full traceback of an error instead of one line"
        )
        return 0
    if argv[0] not in SUBCOMMANDS:
        print(
            f"talkinghead-edu: error: unknown subcommand {argv[0]!r}; "
            f"expected one of {', '.join(SUBCOMMANDS)} (see --help)",
            file=sys.stderr,
        )
        return 2
    module_name, function_name, _ = SUBCOMMANDS[argv[0]]
    function = getattr(importlib.import_module(module_name), function_name)
    return run_main(function, argv[1:], prog=f"talkinghead-edu {argv[0]}", debug=debug)


if __name__ == "__main__":
    sys.exit(main())
