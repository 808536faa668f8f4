"""The speech part of ``datasets_small/``, regenerated deterministically from a seed.

Speech part (this module): 8 espeak-ng speakers x 6 languages, each utterance with
16 kHz FLAC audio, exact phoneme times and per-frame ground-truth FLAME motion; see
``datasets_small/README.md`` for the format. Video part: delegated to
``talkinghead_edu.synth.video_generate.generate_video_part(root, seed)``.

espeak-ng is needed only here (``apt-get install espeak-ng``). The per-utterance motion
files store the head-independent articulation curves; the link to the head model
(``articulation_expr``, ``jaw_open_max_rad``) is stored once in ``speech/head_map.npz``
and the loader computes ``expression = articulation @ articulation_expr``. So
``--remap-only`` (no espeak needed) only rewrites ``head_map.npz`` from the current head
asset when that asset changes, and ``--motion-only`` (no espeak needed either) rewrites the
motion files from the stored phoneme times after a change of the motion model
(:mod:`talkinghead_edu.synth.speech_motion`): the motion is deterministic from the phonemes,
the speaker's style and the seed, and the audio is left as it is.

Usage::

    talkinghead-edu make-dataset [--part speech|video|all] [--seed N] [--root DIR] [--remap-only | --motion-only]
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import soundfile
from tqdm.auto import tqdm

from ..conventions import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from ..data.speech import ARTICULATION_NAMES, HeadMotionMap, Phoneme, SpeakerStyle, VoiceSpec, load_head_motion_map
from ..utils.io import atomic_write_bytes, atomic_write_text
from .espeak import synthesize_isolated
from .speech_motion import phonemes_from_espeak, synthesize_motion
from .visemes import VISEMES

__all__ = [
    "generate_speech_part",
    "utterance_from_espeak",
    "remap_speech_expressions",
    "regenerate_speech_motion",
    "SPEAKER_VOICES",
    "SENTENCES",
    "HELD_OUT_LANGUAGE",
    "FORMAT_VERSION",
]

FORMAT_VERSION = 1
DEFAULT_SEED = 2024
HELD_OUT_LANGUAGE = "de"

#: Speaker name -> espeak-ng voice variant and base pitch (clearly separable timbres, DATA_NOTES).
SPEAKER_VOICES: dict[str, tuple[str, int]] = {
    "arno": ("m1", 30),  # low male, ~75 Hz
    "bruno": ("m3", 50),  # male, ~104 Hz
    "caleb": ("m7", 60),  # male, ~119 Hz
    "dmitri": ("klatt4", 40),  # male, Klatt voice source, ~92 Hz
    "elena": ("f1", 45),  # female, ~169 Hz
    "fiona": ("linda", 50),  # female, ~231 Hz
    "greta": ("steph", 50),  # female, ~183 Hz
    "hana": ("Annie", 85),  # child, ~330 Hz
}

#: Sentences spoken by every speaker, per language. Indices 0-2 train, 3 validation, 4 test;
#: German is the held-out language. Mandarin is pinyin with tone digits, Korean Hangul.
SHARED_SENTENCES: dict[str, list[str]] = {
    "en": [
        "Please bring the big map to the boat.",
        "My brother plays the piano every morning.",
        "We hope the weather will be warm tomorrow.",
        "The baby is sleeping in the blue room.",
        "Open the window and look at the moon.",
    ],
    "fr": [
        "Bonjour, je m'appelle Marie.",
        "Le petit chat boit du lait.",
        "Nous partons à Paris demain matin.",
        "Mon père aime beaucoup la musique.",
        "Il fait beau au bord de la mer.",
    ],
    "es": [
        "Buenos días, ¿cómo estás?",
        "Mi madre prepara una paella.",
        "El perro bebe agua en el parque.",
        "Vamos a la playa por la mañana.",
        "Me gusta mucho la música bonita.",
    ],
    "ko": [
        "안녕하세요, 만나서 반갑습니다.",
        "오늘 날씨가 정말 좋아요.",
        "저는 밥을 먹고 싶어요.",
        "바다에 배가 많이 있어요.",
        "우리 엄마는 빵을 좋아해요.",
    ],
    "cmn": [
        "ni3 hao3, wo3 jiao4 ma3 li4.",
        "jin1 tian1 tian1 qi4 hen3 hao3.",
        "wo3 men qu4 bei3 jing1 ba.",
        "ma1 ma mai3 le pi2 bao1.",
        "ba4 ba xi3 huan1 he1 cha2.",
    ],
    "de": ["Guten Morgen, wie geht es dir?", "Das Wetter ist heute sehr schön."],
}
SHARED_SPLITS = ("train", "train", "train", "val", "test")

#: Sentences spoken by one speaker only (two each, in speaker order), all in train.
UNIQUE_SENTENCES: list[tuple[str, str]] = [
    ("en", "A bottle of milk is on the table."),
    ("fr", "Le bébé mange une pomme."),
    ("en", "She sells sea shells by the shore."),
    ("es", "Pablo compra pan en el mercado."),
    ("en", "Turn left at the old bridge, then stop."),
    ("ko", "물 한 잔 주세요."),
    ("fr", "Paul porte un chapeau bleu."),
    ("cmn", "wo3 ai4 chi1 mi3 fan4."),
    ("en", "Bob made a pumpkin pie for me."),
    ("es", "Mi amigo vive en Barcelona."),
    ("ko", "버스를 타고 학교에 가요."),
    ("cmn", "ta1 de peng2 you3 hen3 mang2."),
    ("en", "The purple balloon flew over the hill."),
    ("fr", "Ma mère boit un bon café."),
    ("es", "Buenas noches, hasta mañana."),
    ("cmn", "bei1 zi li3 you3 shui3."),
]


def _sentences() -> dict[str, dict]:
    """sentence_id -> {language, text, shared, split}."""
    table: dict[str, dict] = {}
    for language, texts in SHARED_SENTENCES.items():
        for index, text in enumerate(texts):
            split = "test_unseen_language" if language == HELD_OUT_LANGUAGE else SHARED_SPLITS[index]
            table[f"{language}{index}"] = {"language": language, "text": text, "shared": True, "split": split}
    for index, (language, text) in enumerate(UNIQUE_SENTENCES):
        table[f"u{index:02d}"] = {"language": language, "text": text, "shared": False, "split": "train"}
    return table


SENTENCES: dict[str, dict] = _sentences()


def _speakers(seed: int) -> dict[str, dict]:
    """Voice and talking style of every speaker, drawn from ``seed`` (ranges in the datasheet)."""
    rng = np.random.default_rng([seed, 0])
    table = {}
    for name, (variant, pitch) in SPEAKER_VOICES.items():
        voice = VoiceSpec(
            variant=variant, pitch=pitch, pitch_range=int(rng.integers(35, 75)), rate=int(rng.integers(145, 186))
        )
        style = SpeakerStyle(
            mouth_amplitude=round(float(rng.uniform(0.7, 1.35)), 3),
            lip_gain=round(float(rng.uniform(0.7, 1.3)), 3),
            articulation_speed=round(float(rng.uniform(0.7, 1.4)), 3),
            smile_bias=round(float(rng.uniform(0.0, 0.45)), 3),
            asymmetry=round(float(rng.uniform(-0.25, 0.25)), 3),
            brow_expressivity=round(float(rng.uniform(0.1, 0.9)), 3),
            blink_rate_hz=round(float(rng.uniform(0.15, 0.5)), 3),
            head_motion_deg=round(float(rng.uniform(0.8, 3.5)), 3),
        )
        table[name] = {"voice": asdict(voice), "style": style.to_dict()}
    return table


def _plan() -> list[dict]:
    """Every utterance to make: speaker, sentence, split (shared sentences + two unique each)."""
    plan = []
    for speaker_index, speaker in enumerate(SPEAKER_VOICES):
        own_unique = {f"u{2 * speaker_index:02d}", f"u{2 * speaker_index + 1:02d}"}
        for sentence_id, sentence in SENTENCES.items():
            if sentence["shared"] or sentence_id in own_unique:
                plan.append(
                    {
                        "id": f"{speaker}_{sentence_id}",
                        "speaker": speaker,
                        "sentence_id": sentence_id,
                        "language": sentence["language"],
                        "split": sentence["split"],
                    }
                )
    return plan


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _flac_bytes(audio: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    """A compressed ``.npz`` with fixed zip timestamps, so equal arrays give equal bytes (checksums)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(entry, "w") as fh:
                np.lib.format.write_array(fh, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def _write_motion(path: Path, phonemes, articulation: np.ndarray, neck_pose: np.ndarray) -> None:
    atomic_write_bytes(
        path,
        _npz_bytes(
            phoneme_symbols=np.array([p.symbol for p in phonemes], dtype=np.str_),
            phoneme_visemes=np.array([p.viseme for p in phonemes], dtype=np.str_),
            phoneme_start=np.array([round(p.start_s * SAMPLE_RATE) for p in phonemes], dtype=np.int64),
            phoneme_end=np.array([round(p.end_s * SAMPLE_RATE) for p in phonemes], dtype=np.int64),
            articulation=articulation.astype(np.float32),
            neck_pose=neck_pose.astype(np.float32),
        ),
    )


def _write_head_map(out: Path, head: HeadMotionMap) -> None:
    atomic_write_bytes(
        out / "head_map.npz",
        _npz_bytes(
            articulation_names=np.array(head.articulation_names, dtype=np.str_),
            articulation_expr=head.articulation_expr.astype(np.float32),
            jaw_open_max_rad=np.float32(head.jaw_open_max_rad),
        ),
    )


def utterance_from_espeak(item: dict, result, speakers: dict, seed: int):
    """One planned utterance from its espeak output -> (audio (L,), phonemes, articulation (T, A), neck_pose (T, 3)).

    The motion seed depends only on (seed, speaker, sentence), so any utterance can be remade alone.
    """
    audio, phonemes = phonemes_from_espeak(result)
    articulation, neck_pose = _utterance_motion(item, phonemes, len(audio) // SAMPLES_PER_FRAME, speakers, seed)
    return audio, phonemes, articulation, neck_pose


def _utterance_motion(item: dict, phonemes, num_frames: int, speakers: dict, seed: int):
    """Motion of one utterance -> (articulation (T, A), neck_pose (T, 3)), seeded by (seed, speaker, sentence)."""
    style = SpeakerStyle.from_dict(speakers[item["speaker"]]["style"])
    speaker_index = list(SPEAKER_VOICES).index(item["speaker"])
    sentence_index = list(SENTENCES).index(item["sentence_id"])
    rng = np.random.default_rng([seed, 1, speaker_index, sentence_index])
    return synthesize_motion(phonemes, num_frames, style, rng)


def generate_speech_part(
    root: Path, seed: int = DEFAULT_SEED, workers: int = 2, head: HeadMotionMap | None = None
) -> Path:
    """Write ``root/speech/`` (audio, motion, metadata.json) -> that folder.

    ``head`` maps articulation to FLAME expression (default: the bundled head asset).
    """
    head = head or load_head_motion_map()
    out = Path(root) / "speech"
    speakers = _speakers(seed)
    plan = _plan()
    jobs = [
        (SENTENCES[item["sentence_id"]]["text"], item["language"], VoiceSpec(**speakers[item["speaker"]]["voice"]))
        for item in plan
    ]
    results = synthesize_isolated(jobs, max_workers=workers)
    for item, result in tqdm(list(zip(plan, results)), desc="speech motion"):
        audio, phonemes, articulation, neck_pose = utterance_from_espeak(item, result, speakers, seed)
        audio_path = out / item["speaker"] / f"{item['sentence_id']}.flac"
        atomic_write_bytes(audio_path, _flac_bytes(audio))
        _write_motion(audio_path.with_suffix(".npz"), phonemes, articulation, neck_pose)
        item["num_frames"] = len(audio) // SAMPLES_PER_FRAME
    _write_metadata(out, seed, speakers, plan, head)
    return out


def _write_metadata(out: Path, seed: int, speakers: dict, plan: list[dict], head: HeadMotionMap) -> None:
    _write_head_map(out, head)
    for item in plan:
        stem = out / item["speaker"] / item["sentence_id"]
        item["audio_sha256"] = _sha256(stem.with_suffix(".flac"))
        item["motion_sha256"] = _sha256(stem.with_suffix(".npz"))
    splits: dict[str, list[str]] = {}
    for item in plan:
        splits.setdefault(item["split"], []).append(item["id"])
    metadata = {
        "format_version": FORMAT_VERSION,
        "generator": "talkinghead-edu make-dataset --part speech",
        "seed": seed,
        "sample_rate": SAMPLE_RATE,
        "fps": FPS,
        "samples_per_frame": SAMPLES_PER_FRAME,
        "articulation_names": list(ARTICULATION_NAMES),
        "visemes": list(VISEMES),
        "head_fingerprint": head.fingerprint,
        "head_map_sha256": _sha256(out / "head_map.npz"),
        "held_out_language": HELD_OUT_LANGUAGE,
        "languages": list(SHARED_SENTENCES),
        "speakers": speakers,
        "sentences": SENTENCES,
        "splits": splits,
        "utterances": plan,
    }
    atomic_write_text(out / "metadata.json", json.dumps(metadata, indent=1, ensure_ascii=False) + "\n")


def remap_speech_expressions(root: Path, head: HeadMotionMap | None = None) -> int:
    """Point the committed speech data at the current head asset (rewrites ``head_map.npz``).

    Returns the number of utterances whose expression/jaw now follow the new head. Needs no espeak-ng.
    """
    out = Path(root) / "speech"
    metadata = json.loads((out / "metadata.json").read_text(encoding="utf-8"))
    head = head or load_head_motion_map()
    _write_metadata(out, metadata["seed"], metadata["speakers"], metadata["utterances"], head)
    return len(metadata["utterances"])


def regenerate_speech_motion(root: Path, head: HeadMotionMap | None = None) -> int:
    """Rewrite every utterance's motion file from its stored phoneme times with the current motion model.

    The audio and the phoneme times stay; articulation and neck pose are recomputed exactly as
    :func:`generate_speech_part` computes them (same seeds), then the checksums in ``metadata.json``
    are rewritten. Returns the number of utterances. Needs no espeak-ng.
    """
    out = Path(root) / "speech"
    metadata = json.loads((out / "metadata.json").read_text(encoding="utf-8"))
    for item in tqdm(metadata["utterances"], desc="speech motion"):
        path = out / item["speaker"] / f"{item['sentence_id']}.npz"
        with np.load(path, allow_pickle=False) as stored:
            phonemes = [
                Phoneme(str(symbol), str(viseme), int(start) / SAMPLE_RATE, int(end) / SAMPLE_RATE)
                for symbol, viseme, start, end in zip(
                    stored["phoneme_symbols"], stored["phoneme_visemes"], stored["phoneme_start"], stored["phoneme_end"]
                )
            ]
        articulation, neck_pose = _utterance_motion(
            item, phonemes, item["num_frames"], metadata["speakers"], metadata["seed"]
        )
        _write_motion(path, phonemes, articulation, neck_pose)
    _write_metadata(out, metadata["seed"], metadata["speakers"], metadata["utterances"], head or load_head_motion_map())
    return len(metadata["utterances"])
