"""The head FPS benchmark runs and writes its JSON and Markdown (no timing is asserted)."""

from __future__ import annotations

import json

from talkinghead_edu.bench import head


def test_benchmark_writes_its_files(tmp_path, capsys):
    assert head.main(["--size", "32", "--frames", "2", "--threads", "1", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "head.json").read_text())
    assert result["resolution"] == 32 and result["fps"] > 0 and result["frames_timed"] == 2
    assert result["num_gaussians"] == 2 * 14076  # the stand-in: two Gaussians per triangle of the bundled head
    assert set(result["stages_ms"]) >= {"flame", "binding", "render", "render: composite"}
    assert result["numba_threads"] == 1 and result["image_coverage"] > 0.05  # the head is drawn
    table = (tmp_path / "head.md").read_text()
    assert "| FPS |" in table and "Render stages" in table
    assert "FPS" in capsys.readouterr().out


def test_bad_arguments_are_refused(tmp_path):
    import pytest

    with pytest.raises(SystemExit):
        head.main(["--frames", "0", "--out", str(tmp_path)])


def test_a_shipped_head_is_timed(tmp_path):
    from talkinghead_edu.paths import dataset_root

    shipped = dataset_root() / "checkpoints" / "head_speaker_b.safetensors"  # its header has no training step
    assert head.main(["--checkpoint", str(shipped), "--size", "32", "--frames", "1", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "head.json").read_text())
    assert result["head"] == "head_speaker_b.safetensors (600 steps)" and result["num_gaussians"] > 10_000
