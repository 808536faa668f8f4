"""Every benchmark writes its results through one function: JSON + Markdown, folder created, atomic."""

import json

import pytest

from talkinghead_edu.bench._report import write_report


def test_writes_json_and_markdown_into_a_new_folder(tmp_path):
    out = tmp_path / "a" / "b"
    write_report(out, "render", {"rows": [{"n": 3, "ms": 1.5}]}, "| n |\n|---|\n| 3 |\n")
    assert json.loads((out / "render.json").read_text()) == {"rows": [{"n": 3, "ms": 1.5}]}
    assert (out / "render.md").read_text().endswith("| 3 |\n")
    assert sorted(p.name for p in out.iterdir()) == ["render.json", "render.md"]  # no temporary files left


def test_a_result_that_cannot_be_written_leaves_the_earlier_files(tmp_path):
    write_report(tmp_path, "head", {"fps": 20.0}, "old table\n")
    with pytest.raises(TypeError):
        write_report(tmp_path, "head", {"fps": object()}, "new table\n")
    assert json.loads((tmp_path / "head.json").read_text()) == {"fps": 20.0}
    assert (tmp_path / "head.md").read_text() == "old table\n"
