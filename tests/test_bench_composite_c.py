"""The C versions of the forward compositing kernel (benchmark only): same image as numba, clear errors."""

import json
import shutil

import numpy as np
import pytest

from talkinghead_edu.bench import composite_c
from talkinghead_edu.render import fast

needs_compiler = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler 'cc' on this machine")


@needs_compiler
@pytest.mark.parametrize("name", composite_c.C_FUNCTIONS)
def test_c_versions_composite_the_same_image_as_the_numba_kernel(name):
    """The twin does the numba kernel's float operations; the textbook port (float, expf per pixel) rounds
    differently, so a pixel may rarely stop one splat apart — the images still agree to 1e-5."""
    assert fast.available()
    function = composite_c.load(composite_c.build(), name)
    inputs = (*composite_c.scene_bins(3000, 96, seed=3), 96, 96)
    numba_color, numba_t, numba_last = composite_c.composite_numba(*inputs)
    c_color, c_t, c_last = composite_c.composite_c(function, *inputs)
    assert numba_color.shape == c_color.shape == (96, 96, 4)
    assert (1.0 - numba_t).mean() > 0.3  # the head covers a good part of the image: a real comparison
    np.testing.assert_allclose(c_color, numba_color, rtol=0, atol=1e-5)
    np.testing.assert_allclose(c_t, numba_t, rtol=0, atol=1e-6)
    assert (c_last == numba_last).mean() > 0.999


@needs_compiler
def test_benchmark_writes_its_table(tmp_path):
    assert composite_c.main(["--n", "2000", "--sizes", "64", "--runs", "1", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "composite_c.json").read_text())["rows"]
    assert rows[0]["n"] == 2000 and rows[0]["c_ms"] > 0 and rows[0]["textbook_ms"] > 0 and rows[0]["numba_ms"] > 0
    assert "numba ÷ C twin" in (tmp_path / "composite_c.md").read_text()


@needs_compiler
def test_unknown_c_function_is_named():
    with pytest.raises(ValueError, match="no C function 'composite_backward'"):
        composite_c.load(composite_c.build(), "composite_backward")


def test_missing_compiler_is_named():
    with pytest.raises(RuntimeError, match="no C compiler 'no-such-cc-here'"):
        composite_c.build("no-such-cc-here")


def test_non_contiguous_input_is_refused():
    splats = np.zeros((2, 8), np.float32)
    channels = np.zeros((4, 2), np.float32).T  # (2, 4) but not C-contiguous
    with pytest.raises(ValueError, match="C-contiguous"):
        composite_c.composite_c(None, splats, channels, np.zeros(2, np.int64), np.zeros(0, np.int32), 16, 16)
