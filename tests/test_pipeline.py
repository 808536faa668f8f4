"""The whole inference pipeline (Figure 2): shipped heads, streamed frames, eq-19 output, the mp4 of `speak`."""

import numpy as np
import pytest
import soundfile
import torch

from talkinghead_edu.cli import main as cli_main
from talkinghead_edu.pipeline import STAGES, TalkingHead, available_heads, ping_pong

RESOLUTION = 64  # the shipped 256² heads rendered small keep the tests quick


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def head():
    return TalkingHead.load("speaker_a", style="average", resolution=RESOLUTION)


def _speech(seconds: float, rate: int = 16000, channels: int = 1) -> np.ndarray:
    """A voiced-sounding test signal: a 140 Hz buzz through a slowly varying envelope."""
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.3 * np.sign(np.sin(2 * np.pi * 140 * t)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return (
        np.stack([mono * (1 - 0.2 * c) for c in range(channels)], axis=1).astype(np.float32)
        if channels > 1
        else mono.astype(np.float32)
    )


def test_ping_pong_loop_never_jumps():
    n = 5
    rows = [ping_pong(t, n) for t in range(40)]
    assert rows[:10] == [0, 1, 2, 3, 4, 3, 2, 1, 0, 1]
    assert all(abs(a - b) == 1 for a, b in zip(rows, rows[1:]))
    assert {ping_pong(t, 1) for t in range(5)} == {0}


def test_shipped_heads_exist_for_both_video_speakers():
    assert {"speaker_a", "speaker_b"} <= set(available_heads())


def test_speak_streams_frames_and_times_every_stage(head):
    speech = head.speak(_speech(0.5, 44100, channels=2), sample_rate=44100)
    assert speech.num_frames == 13  # ceil(0.5 s * 25)
    assert speech.timings["audio encoder"] > 0 and speech.timings["translator"] > 0
    frames = iter(speech)
    first = next(frames)
    assert first.shape == (head.video.height, head.video.width, 3) and first.dtype == np.uint8
    assert speech.frames_done == 1  # nothing is rendered ahead of the consumer
    next(frames)
    assert speech.frames_done == 2 and all(speech.timings[stage] > 0 for stage in STAGES)
    assert "0.50 s of audio -> 2 frames" in speech.summary()


@pytest.mark.parametrize("pose", ["track", "still"])
def test_outside_the_face_mask_the_frame_is_the_target_video(head, pose):
    """Eq 19: ``(1 − M) I_ori`` is untouched; the background follows the pose track (or stays)."""
    head.pose = pose
    try:
        speech = head.speak(_speech(0.3), sample_rate=16000)
        for t, frame in enumerate(speech):
            row = 0 if pose == "still" else ping_pong(t, len(head.track["frames"]))
            index = int(head.track["frames"][row])
            outside = ~head.video.face_mask[index]
            original = (head.video.frame(index).numpy() * 255 + 0.5).astype(np.uint8)
            assert np.abs(frame[outside].astype(int) - original[outside]).max() <= 1
            assert np.abs(frame[~outside].astype(int) - original[~outside]).mean() > 1  # the face is re-rendered
    finally:
        head.pose = "track"


def test_video_speakers_speak_in_their_own_style():
    own = TalkingHead.load("speaker_a", resolution=RESOLUTION)  # default style: the head's own speaker
    assert own.style == "speaker_a"
    assert TalkingHead.load("speaker_a", style="speaker_b", resolution=RESOLUTION).style == "speaker_b"


def test_load_rejects_unknown_head_style_and_pose():
    with pytest.raises(ValueError, match="unknown head 'nobody'.*speaker_a"):
        TalkingHead.load("nobody")
    with pytest.raises(ValueError, match="unknown style 'zorro'.*average"):
        TalkingHead.load("speaker_a", style="zorro", resolution=RESOLUTION)
    with pytest.raises(ValueError, match="pose"):
        TalkingHead.load("speaker_a", pose="wobble")
    with pytest.raises(ValueError, match="multiple of 4"):
        TalkingHead.load("speaker_a", resolution=66)


def test_speak_command_writes_h264_aac_mp4_with_matching_lengths(tmp_path, capsys):
    import av

    wav = tmp_path / "voice.wav"
    soundfile.write(wav, _speech(1.3, 44100, channels=2), 44100)
    out = tmp_path / "talk.mp4"
    assert (
        cli_main(
            [
                "speak",
                str(wav),
                "--head",
                "speaker_a",
                "--style",
                "average",
                "--resolution",
                str(RESOLUTION),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    assert "1.30 s of audio -> 33 frames" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.mp4", "voice.wav"]  # no temporary file left
    with av.open(str(out)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264" and audio.codec_context.name == "aac"
        assert video.average_rate == 25 and (video.width, video.height) == (RESOLUTION, RESOLUTION)
        video_seconds = float(video.duration * video.time_base)
        audio_seconds = float(audio.duration * audio.time_base)
        decoded = sum(1 for _ in container.decode(video=0))
    assert decoded == 33
    assert abs(video_seconds - 33 / 25) < 1e-6
    assert abs(audio_seconds - 1.3) < 1 / 25 and abs(audio_seconds - video_seconds) < 1 / 25


def test_speak_command_reports_bad_inputs_in_one_line(tmp_path, capsys):
    wav = tmp_path / "voice.wav"
    soundfile.write(wav, _speech(0.2), 16000)
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("this is not audio")
    cases = [
        ([str(not_audio)], "not a readable audio file"),
        ([str(wav), "--head", "nobody"], "unknown head 'nobody'"),
        ([str(wav), "--style", "zorro"], "unknown style 'zorro'"),
        ([str(wav), "--out", str(tmp_path / "missing" / "x.mp4")], "does not exist"),
        ([str(wav), "--out", str(tmp_path / "x.avi")], "must end in .mp4"),
    ]
    for args, message in cases:
        extra = [] if "--out" in args else ["--out", str(tmp_path / "out.mp4")]
        assert cli_main(["speak", *args, *extra, "--resolution", str(RESOLUTION), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out.mp4").exists()
