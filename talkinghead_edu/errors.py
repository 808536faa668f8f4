"""The package's error family: every bad input ends in one of these, with one clear message.

Every loader and public entry point checks its input once, where it enters the package, and
raises a :class:`TalkingHeadError` whose message names the file or argument, what was found and
what was expected. The command line (:mod:`talkinghead_edu.cli`) prints such an error as one
line on stderr and exits with status 2.

The classes also derive from the built-in exception that older code caught (``ValueError``,
``TypeError``, ``FileNotFoundError``), so ``except ValueError`` around a loader keeps working::

    TalkingHeadError(ValueError)            base: bad input of any kind
    ├── InputError                          an argument's value, shape or range is wrong
    │   └── InputTypeError(TypeError)       an argument has the wrong type or dtype
    └── FileFormatError                     a file or folder is unreadable or has wrong content
        ├── MissingFileError(FileNotFoundError)   the file or folder does not exist
        ├── CheckpointError                 a checkpoint is not one this package wrote, or is damaged
        └── DatasetError                    a bundled-layout dataset folder is incomplete or inconsistent
    WriteError(OSError)                     an output could not be written (disk full, no permission);
                                            the target is left as it was

Subsystems add their own subclasses (``FlameModelError``, ``FlameFileError``,
``BYOFormatError``, ``AudioLoadError``, ``DatasetError``, ``RenderInputError``).
"""

from __future__ import annotations

import os

__all__ = [
    "TalkingHeadError",
    "InputError",
    "InputTypeError",
    "FileFormatError",
    "MissingFileError",
    "CheckpointError",
    "DatasetError",
    "WriteError",
    "require_file",
]


class TalkingHeadError(ValueError):
    """Bad input to the package: the message names what was wrong and what was expected."""


class InputError(TalkingHeadError):
    """An argument's value, shape or range is not what the function expects."""


class InputTypeError(TalkingHeadError, TypeError):
    """An argument has the wrong type or dtype."""


class FileFormatError(TalkingHeadError):
    """A file or folder is unreadable, truncated, or holds values the package cannot use."""


class MissingFileError(FileFormatError, FileNotFoundError):
    """A file or folder the package needs does not exist."""


class CheckpointError(FileFormatError):
    """A checkpoint file is not one this package wrote, is damaged, or does not fit the model."""


class DatasetError(FileFormatError):
    """A bundled-layout dataset folder (speech or video) is missing a file or is inconsistent."""


class WriteError(TalkingHeadError, OSError):
    """An output file or folder could not be written (disk full, file too large, no permission).

    Raised by the atomic writers of :mod:`talkinghead_edu.utils.io` after they removed their
    temporary file, so the target is untouched (an older version of it survives).
    """


def require_file(path: str | os.PathLike, what: str, expected: str = "") -> None:
    """Raise :class:`MissingFileError` unless ``path`` is an existing regular file.

    Distinguishes "does not exist" from "is a folder" so the message is never misleading.

    Args:
        path: the file to check.
        what: what the file is, for the message (``"checkpoint"``, ``"FLAME model file"``).
        expected: optional hint appended to the message (``"an .npz with FLAME's keys"``).
    """
    hint = f"; expected {expected}" if expected else ""
    if os.path.isdir(path):
        raise MissingFileError(f"{what} {os.fspath(path)} is a folder, not a file{hint}")
    if not os.path.isfile(path):
        raise MissingFileError(f"{what} {os.fspath(path)} does not exist{hint}")
