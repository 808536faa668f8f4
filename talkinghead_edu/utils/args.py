"""Command-line arguments checked where they enter: one-line errors, exit status 2.

:func:`run_main` does the same for errors raised while a command runs (a damaged
checkpoint, a missing speaker): one line on stderr, exit status 2, the traceback only
with ``--debug``.

Every subcommand builds its parser with :class:`ArgumentParser` and converts its options
with the ``type=`` helpers below, so ``--n 0``, ``--device bogus`` or a missing
``--checkpoint`` stop before any work with one line on stderr::

    talkinghead-edu bench render: error: argument --n: expected a whole number >= 1, got '0'
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, NoReturn

import torch

from ..errors import TalkingHeadError

__all__ = [
    "ArgumentParser",
    "positive_int",
    "non_negative_int",
    "positive_float",
    "torch_device",
    "existing_file",
    "existing_dir",
    "run_main",
]


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line on stderr (exit status 2), without the usage block.

    ``--help`` still prints the full usage.
    """

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """``type=`` for counts and sizes: an integer >= 1."""
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    """``type=`` for seeds and optional counts: an integer >= 0."""
    return _whole_number(text, 0)


def positive_float(text: str) -> float:
    """``type=`` for durations, rates and temperatures: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (0.0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def torch_device(text: str) -> torch.device:
    """``type=`` for ``--device``: a device torch knows and this machine has (``cpu``, ``cuda``, ``cuda:1``,
    ``mps``)."""
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a torch device such as 'cpu' or 'cuda', got {text!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text!r}: CUDA is not available on this machine (use 'cpu')")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(f"{text!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{text!r}: Apple MPS is not available on this machine (use 'cpu')")
    if device.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(f"expected 'cpu', 'cuda[:N]' or 'mps', got {text!r}")
    return device


def existing_file(text: str) -> Path:
    """``type=`` for input files (checkpoints, heads): the path must be an existing file."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, expected a file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text} does not exist")
    return path


def existing_dir(text: str) -> Path:
    """``type=`` for input folders: the path must be an existing folder."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a folder" if path.exists() else f"{text} does not exist")
    return path


def run_main(main: Callable[[list[str]], int | None], argv: list[str], prog: str, debug: bool = False) -> int:
    """Run a command's ``main(argv)`` and turn the package's errors into one line and exit status 2.

    A :class:`~talkinghead_edu.errors.TalkingHeadError` (bad input) or an ``OSError`` (a file
    that cannot be read or written) prints ``PROG: error: MESSAGE`` on stderr and returns 2;
    Ctrl-C returns 130. With ``debug`` (``--debug`` on the command line, or the environment
    variable ``TALKINGHEAD_EDU_DEBUG=1``) the exception propagates with its traceback.
    """
    debug = debug or os.environ.get("TALKINGHEAD_EDU_DEBUG", "") not in ("", "0")
    try:
        return int(main(argv) or 0)
    except (TalkingHeadError, OSError) as exc:
        if debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{prog}: error: {message} (run with --debug for the traceback)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
