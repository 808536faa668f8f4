"""``python -m talkinghead_edu.bench render`` writes its JSON and Markdown table (tiny sizes; no timing asserted)."""

import json

from talkinghead_edu.bench import render as bench


def test_bench_writes_json_and_markdown(tmp_path):
    argv = ["--out", str(tmp_path), "--n", "300", "--sizes", "32", "--runs", "1", "--threads", "1", "2"]
    assert bench.main(argv) == 0
    report = json.loads((tmp_path / "render.json").read_text())
    assert [(row["backend"], row["threads"]) for row in report["rows"]][:2] == [("fast", 1), ("fast", 2)]
    assert {row["backend"] for row in report["rows"]} == {"fast", "reference"}
    for row in report["rows"]:
        if row["backend"] == "fast":  # every stage was timed, and the stages fit inside the whole
            assert set(row["stages_s"]) >= set(bench.STAGES) and all(v > 0 for v in row["stages_s"].values())
            assert sum(row["stages_s"][name] for name in bench.STAGES) <= row["forward_backward_s"] * 1.5
    assert all(row["forward_s"] > 0 and row["forward_backward_cpu_s"] > 0 for row in report["rows"])
    assert report["info"]["torch_threads"] >= 1
    table = (tmp_path / "render.md").read_text()
    assert "| 300 | 32² | fast | 1 |" in table and "speed-up" in table and "| composite |" in table
    assert "2 threads" in table
