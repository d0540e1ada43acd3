"""Clustering, windows, word labels and turns on made-up inputs whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from asr_engine.diarization import label_words, turns
from asr_engine.diarization.clustering import cluster
from asr_engine.diarization.windows import JOIN_GAP_S, WINDOW_S, Window, windows_over
from common.asr_options import MAX_SPEAKERS, InvalidOption, SpeakerHints


def _speakers(sizes: list[int], spread: float = 0.35, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors scattered around one random centre per speaker, in blocks (turns)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(sizes), 192))
    points, truth = [], []
    for speaker, size in enumerate(sizes):
        noise = spread * rng.standard_normal((size, 192)) / np.sqrt(192)
        points.append(centres[speaker] / np.linalg.norm(centres[speaker]) + noise)
        truth += [speaker] * size
    x = np.concatenate(points)
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.array(truth)


@pytest.mark.parametrize("sizes", [[30], [20, 25], [15, 20, 18], [12, 10, 14, 16]])
def test_the_count_is_found(sizes: list[int]) -> None:
    x, truth = _speakers(sizes)
    assert (cluster(x, SpeakerHints()) == truth).all()


def test_few_windows_are_merged_by_similarity() -> None:
    x, truth = _speakers([4, 3])
    assert (cluster(x, SpeakerHints()) == truth).all()
    x, _ = _speakers([5])
    assert (cluster(x, SpeakerHints()) == 0).all()


def test_hints_decide_within_their_bounds() -> None:
    x, _ = _speakers([20, 25, 18])
    assert len(set(cluster(x, SpeakerHints(max_speakers=2)))) == 2
    assert len(set(cluster(x, SpeakerHints(num_speakers=2)))) == 2
    y, _ = _speakers([40])
    assert len(set(cluster(y, SpeakerHints(min_speakers=2)))) == 2
    assert len(set(cluster(y, SpeakerHints(num_speakers=3)))) == 3
    assert len(cluster(np.zeros((0, 192)), SpeakerHints())) == 0


@pytest.mark.parametrize(
    ("hints", "param"),
    [
        ({"num_speakers": 0}, "num_speakers"),
        ({"max_speakers": MAX_SPEAKERS + 1}, "max_speakers"),
        ({"min_speakers": 3, "max_speakers": 2}, "min_speakers"),
        ({"num_speakers": 5, "max_speakers": 4}, "num_speakers"),
    ],
)
def test_bad_hints_name_their_field(hints: dict[str, int], param: str) -> None:
    with pytest.raises(InvalidOption) as caught:
        SpeakerHints(**hints)
    assert caught.value.param == param and param in str(caught.value)


def test_windows_cover_words_but_never_a_pause() -> None:
    words = [(0.5, 0.9), (1.0, 1.6), (1.7, 3.9), (5.0, 5.2)]  # one region of 3.4 s, a pause, one word
    windows = windows_over(words, duration=6.0)
    first = [w for w in windows if w.end <= 3.9 + 1e-9]
    assert first[0].start == 0.5 and first[-1].end == pytest.approx(3.9)
    assert all(w.end - w.start == pytest.approx(WINDOW_S) for w in first)
    assert all(not (w.start < 4.5 < w.end) for w in windows)  # no window spans the 1.1 s pause
    assert windows[-1] == Window(4.85, 5.35)  # a lone short word gets a 0.5 s window around it
    assert 5.0 - 3.9 > JOIN_GAP_S


def test_words_take_the_windows_votes_and_turns_split_on_changes() -> None:
    words = [
        {"word": "hello", "start": 0.0, "end": 0.5, "confidence": 0.9},
        {"word": "there", "start": 0.6, "end": 1.0, "confidence": 0.7},
        {"word": "yes", "start": 1.6, "end": 2.0, "confidence": 0.8},
        {"word": "later", "start": 3.5, "end": 3.9, "confidence": 0.6},
    ]
    windows = [Window(0.0, 1.0), Window(0.5, 1.5), Window(1.5, 2.0), Window(3.4, 4.0)]
    labelled = label_words(words, windows, np.array([3, 5, 5, 5]))
    assert [w["speaker"] for w in labelled] == [0, 0, 1, 1]  # renumbered in order of appearance
    assert labelled[0]["speaker_confidence"] == 1.0
    assert labelled[1]["speaker_confidence"] == pytest.approx(0.4 / 0.8)  # 0.4 s from each window: a tie
    got = turns(labelled)
    assert [(t.speaker, t.text) for t in got] == [(0, "hello there"), (1, "yes"), (1, "later")]  # 1.5 s pause
    assert got[0].confidence == pytest.approx(0.8) and (got[0].start, got[0].end) == (0.0, 1.0)
