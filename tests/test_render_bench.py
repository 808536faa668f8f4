"""``python -m talkinghead_edu.bench render`` writes its JSON and Markdown table (tiny sizes; no timing asserted)."""
import json

from talkinghead_edu.bench import render as bench


def test_bench_writes_json_and_markdown(tmp_path):
    assert bench.main(["--out", str(tmp_path), "--n", "300", "--sizes", "32", "--runs", "1"]) == 0
    report = json.loads((tmp_path / "render.json").read_text())
    assert {row["backend"] for row in report["rows"]} == {"fast", "reference"}
    assert all(row["forward_s"] > 0 and row["forward_backward_cpu_s"] > 0 for row in report["rows"])
    assert report["info"]["torch_threads"] >= 1
    table = (tmp_path / "render.md").read_text()
    assert "| 300 | 32² | fast |" in table and "speed-up" in table
