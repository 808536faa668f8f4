"""The machinery behind every notebook self-check."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch


class CheckFailed(AssertionError):
    """A learner's function disagrees with the library; the message says how."""


def _as_tuple(value: Any) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def compare_to_library(
    name: str,
    user_fn: Callable,
    library_fn: Callable,
    make_inputs: Callable[[torch.Generator], Sequence[Any]],
    trials: int = 5,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    hint: str = "",
    seed: int = 0,
) -> bool:
    """Run ``user_fn`` and ``library_fn`` on ``trials`` random inputs and compare.

    Args:
        name: what is checked, e.g. ``"Rodrigues (eq 10)"``.
        user_fn: the learner's function.
        library_fn: the package's function with the same signature.
        make_inputs: ``generator -> tuple of positional arguments``.
        trials, atol, rtol: how many random inputs, and the tolerance of
            :func:`torch.testing.assert_close`.
        hint: one sentence printed when the check fails.

    Returns:
        ``True`` when every trial agrees (prints ✓).

    Raises:
        NotImplementedError: the learner has not written the function yet (passed through).
        CheckFailed: shapes or values differ; the message names the trial and the hint.
    """
    generator = torch.Generator().manual_seed(seed)
    for trial in range(trials):
        args = make_inputs(generator)
        expected = _as_tuple(library_fn(*args))
        got = _as_tuple(user_fn(*args))
        if len(got) != len(expected):
            raise CheckFailed(f"{name}: expected {len(expected)} outputs, got {len(got)}. {hint}")
        for index, (g, e) in enumerate(zip(got, expected)):
            g = torch.as_tensor(g)
            if g.shape != e.shape:
                raise CheckFailed(
                    f"{name}: output {index} has shape {tuple(g.shape)}, expected {tuple(e.shape)}. {hint}"
                )
            try:
                torch.testing.assert_close(g.to(e.dtype), e, atol=atol, rtol=rtol)
            except AssertionError as exc:
                raise CheckFailed(
                    f"{name}: trial {trial}, output {index} differs from the library. {hint}\n{exc}"
                ) from None
    print(f"✓ {name}: matches the library on {trials} random inputs")
    return True


def exercise_or_library(
    name: str, user_fn: Callable, library_fn: Callable, check: Callable[[Callable], bool], help_note: str = ""
) -> Callable:
    """Check an exercise; return the learner's function if it passes, else the library's.

    Never raises, so that Run All goes on whatever the learner wrote: an unfinished exercise
    (``NotImplementedError``) prints a note, a wrong answer (:class:`CheckFailed`: expected vs
    got on a small case) or a crash inside the learner's function prints what went wrong; in
    every such case the library's version is returned and the rest of the notebook uses it.

    Args:
        name: what is checked, e.g. ``"Exercise 06.1 · the conic"``.
        user_fn: the learner's function. library_fn: the package's function, same signature.
        check: ``check(fn) -> True`` or raises :class:`CheckFailed`.
        help_note: printed after a failure (e.g. how to reveal a hint).
    """
    try:
        check(user_fn)
        return user_fn
    except NotImplementedError:
        print(f"… {name}: exercise not attempted yet — using the library version so the notebook can go on.")
    except CheckFailed as failure:
        print(f"✗ {name}: not right yet — using the library version so the notebook can go on.\n{failure}")
    except Exception as error:  # noqa: BLE001 - a learner's bug must not halt Run All; it is reported, not hidden
        print(
            f"✗ {name}: your function raised {type(error).__name__}: {error}\n"
            "— using the library version so the notebook can go on."
        )
    if help_note:
        print(help_note)
    return library_fn
