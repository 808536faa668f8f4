"""`python -m talkinghead_edu.recipes.evaluate`: both tables written to a folder (JSON + markdown), read back."""

import json
import math

import pytest
import torch

from talkinghead_edu.recipes import evaluate as ev

TINY = ["--self-frames", "16", "--heads", "speaker_a", "--no-progress", "--threads", "1"]


@pytest.fixture(autouse=True)
def keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_both_tables_without_pipeline_rows(tmp_path, capsys):
    out = tmp_path / "tables"
    argv = ["--out", str(out), "--tables", "self", "cross", "--cross-voices", "1", "--languages", "de"]
    assert ev.main(argv + TINY + ["--no-pipeline-rows"]) == 0
    assert f"wrote {out / 'tables.md'}" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["cross_driven_de.json", "self_driven.json", "tables.md"]

    record = json.loads((out / "self_driven.json").read_text())
    assert record["settings"] == {"heads": ["speaker_a"], "self_frames": 16, "cross_voices": 1, "pipeline_rows": False}
    assert record["clips"] == [{"name": "speaker_a/test", "voice": "speaker_a", "frames": 16}]
    assert record["rows"]["ground truth"]["psnr"] is None  # infinite: JSON has no infinity
    loaded = ev.load_tables(out)
    assert list(loaded["self"]) == list(ev.self_driven_methods(pipeline_rows=False))
    truth = loaded["self"]["ground truth"]
    assert math.isnan(truth["psnr"]) and truth["lmd"] == 0.0 and truth["fd_sync"] == pytest.approx(0.0, abs=1e-6)
    assert loaded["self"]["mesh + true FLAME"]["psnr"] > 20  # a real comparison with the ground-truth frames
    cross = loaded["cross"]["de"]
    assert list(cross) == list(ev.cross_driven_methods(pipeline_rows=False))
    assert "psnr" not in cross["loudness jaw (floor)"]  # no ground-truth frames of a head speaking German
    assert all(row["eval_s_per_frame"] > 0 for row in cross.values())

    markdown = (out / "tables.md").read_text()
    assert "## self-driven" in markdown and "## cross-driven (de)" in markdown
    assert ev.format_table(loaded["self"], ev.SELF_COLUMNS + ("eval_s_per_frame",)) in markdown
    assert "not comparable" in markdown


def test_self_table_with_the_gaussian_rows(tmp_path):
    out = tmp_path / "tables"
    assert ev.main(["--out", str(out), "--tables", "self"] + TINY) == 0
    assert sorted(p.name for p in out.iterdir()) == ["self_driven.json", "tables.md"]
    table = ev.load_tables(out)["self"]
    gaussian = list(ev.pipeline_methods(("speaker_a",)))
    assert list(table)[5:] == gaussian and ev.NO_BLENDSHAPES in gaussian and ev.NO_INPAINTING in gaussian
    for name in gaussian:
        assert table[name]["fps"] > 0 and 0 <= table[name]["lse_c"] and table[name]["psnr"] > 15
    assert "fps" not in table["loudness jaw (floor)"]  # only the pipeline rows are timed


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--self-frames", "6"], "more than 15 frames"),
        (["--self-frames", "-1"], "whole number >= 0"),
        (["--cross-voices", "9"], "have 8"),
        (["--languages", "xx"], "no held-out utterances in language 'xx'"),
        (["--tables", "both"], "invalid choice: 'both'"),
        (["--heads", "nobody"], "invalid choice: 'nobody'"),
    ],
)
def test_bad_arguments_stop_with_one_line(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as stopped:
        ev.main(["--out", str(tmp_path / "tables")] + argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "tables").exists()  # nothing made before the arguments are checked


def test_out_must_be_a_folder_whose_parent_exists(tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    for out, message in [(a_file, "is not a folder"), (tmp_path / "missing" / "tables", "does not exist")]:
        with pytest.raises(SystemExit):
            ev.main(["--out", str(out)])
        assert message in capsys.readouterr().err


def test_load_tables_names_the_command_when_the_folder_is_empty(tmp_path):
    with pytest.raises(FileNotFoundError, match="recipes.evaluate --out"):
        ev.load_tables(tmp_path)
