"""The head FPS benchmark runs and writes its JSON and Markdown (no timing is asserted)."""
from __future__ import annotations

import json

from talkinghead_edu.bench import head


def test_benchmark_writes_its_files(tmp_path, capsys):
    assert head.main(["--size", "32", "--frames", "1", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "head.json").read_text())
    assert result["resolution"] == 32 and result["num_gaussians"] > 0 and result["fps"] > 0
    assert "| FPS |" in (tmp_path / "head.md").read_text()
    assert "FPS" in capsys.readouterr().out
