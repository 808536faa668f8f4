"""Notebook 08's demo widget: its callbacks are these library functions."""

import av
import numpy as np
import soundfile
import torch

from talkinghead_edu.teach.widgets import speak as sw

RESOLUTION = 64


def _wav(path, seconds=0.4, rate=22050):
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 180 * t) * np.sin(2 * np.pi * 2 * t)).astype(np.float32), rate)
    return path


def test_bundled_clips_are_audio_files():
    clips = sw.bundled_clips()
    assert len(clips) >= 8 and all(p.is_file() and p.suffix == ".flac" for p in clips.values())


def test_save_upload_writes_the_uploaded_file(tmp_path):
    value = ({"name": "../../me.wav", "content": memoryview(b"RIFF1234")},)
    path = sw.save_upload(value, tmp_path)
    assert path == tmp_path / "me.wav" and path.read_bytes() == b"RIFF1234"  # the name cannot escape the folder
    try:
        sw.save_upload((), tmp_path)
    except ValueError as exc:
        assert "no file uploaded" in str(exc)
    else:
        raise AssertionError("an empty upload must raise")


def test_speak_to_mp4_and_side_by_side(tmp_path):
    torch.set_num_threads(1)
    audio = _wav(tmp_path / "a.wav")
    path, speech = sw.speak_to_mp4(
        "speaker_a", "average", audio, tmp_path / "one.mp4", resolution=RESOLUTION, progress=False
    )
    assert speech.num_frames == 10 and speech.frames_done == 10
    both = sw.side_by_side_mp4(
        "speaker_a", ("average", "average"), audio, tmp_path / "two.mp4", resolution=RESOLUTION, progress=False
    )
    with av.open(str(path)) as one, av.open(str(both)) as two:
        assert (one.streams.video[0].width, two.streams.video[0].width) == (RESOLUTION, 2 * RESOLUTION)
        left = [f.to_ndarray(format="rgb24") for f in two.decode(video=0)]
    assert len(left) == 10
    assert (
        np.abs(left[3][:, :RESOLUTION].astype(int) - left[3][:, RESOLUTION:]).mean() < 2
    )  # same style twice: same halves
    html = sw.video_html(path)
    assert html.startswith("<video controls") and "data:video/mp4;base64," in html


def test_widget_reports_a_missing_upload(tmp_path, capsys):
    box = sw.speak_widget(tmp_path, resolution=RESOLUTION, styles=["average"])
    clip = box.children[0].children[0]
    button = box.children[1].children[2]
    clip.value = "(my upload)"
    button.click()
    assert "error: no file uploaded" in capsys.readouterr().out
