"""Speakers per word, and the turns (utterances, diarized segments) they make.

A word takes the speaker of the windows that overlap it, each window's vote weighted by how much of
the word it covers; `speaker_confidence` is the winning speaker's share of those votes (1.0 when every
window over the word agrees, lower near a change of speaker).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .windows import Window

UTTERANCE_PAUSE_S = 0.8  # a pause this long ends an utterance even without a change of speaker (Deepgram's default)


def label_words(words: Sequence[dict[str, Any]], windows: Sequence[Window], labels: np.ndarray) -> list[dict[str, Any]]:
    """Copies of `words` ({word, start, end, ...}) with `speaker` (0, 1, … in order of appearance) and
    `speaker_confidence` added; `labels` holds each window's cluster."""
    if not windows:
        return [dict(word, speaker=0, speaker_confidence=0.0) for word in words]
    starts = np.array([w.start for w in windows])
    ends = np.array([w.end for w in windows])
    speakers = int(labels.max()) + 1
    out = []
    for word in words:
        start, end = float(word["start"]), float(word["end"])
        overlap = np.minimum(ends, max(end, start + 0.01)) - np.maximum(starts, start)
        votes = np.zeros(speakers)
        if (overlap > 0).any():
            np.add.at(votes, labels[overlap > 0], overlap[overlap > 0])
        else:  # outside every window: the nearest one decides
            centre = (start + end) / 2
            votes[labels[np.argmin(np.abs((starts + ends) / 2 - centre))]] = 1.0
        speaker = int(np.argmax(votes))
        out.append(dict(word, speaker=speaker, speaker_confidence=round(float(votes[speaker] / votes.sum()), 3)))
    # Number speakers 0, 1, … in order of their first word (a cluster may have won no word at all).
    names: dict[int, int] = {}
    for word in out:
        word["speaker"] = names.setdefault(word["speaker"], len(names))
    return out


@dataclass
class Turn:
    """Consecutive words of one speaker: a Deepgram/Smallest utterance, an OpenAI diarized segment."""

    speaker: int
    start: float
    end: float
    words: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(str(w["word"]) for w in self.words)

    @property
    def confidence(self) -> float:
        scores = [float(w["confidence"]) for w in self.words if "confidence" in w]
        return round(sum(scores) / len(scores), 4) if scores else 0.0


def turns(labelled: Sequence[dict[str, Any]], pause_s: float = UTTERANCE_PAUSE_S) -> list[Turn]:
    """Split labelled words wherever the speaker changes or a pause reaches `pause_s`."""
    out: list[Turn] = []
    for word in labelled:
        start, end, speaker = float(word["start"]), float(word["end"]), int(word["speaker"])
        current = out[-1] if out else None
        if current is None or current.speaker != speaker or start - current.end >= pause_s:
            out.append(Turn(speaker, start, end, [word]))
        else:
            current.words.append(word)
            current.end = max(current.end, end)
    return out


def split_segments(segments: Sequence[dict[str, Any]], labelled: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Whisper's segments with `speaker`, cut where the speaker changes within one (renumbered).

    A word belongs to the last segment that starts at or before its middle (words and segments are
    in time order). A cut piece takes its text and times from its words and keeps the segment's
    decoding statistics; its `tokens` are dropped (they spell the whole segment). A segment without
    words keeps the speaker before it."""
    owned: list[list[dict[str, Any]]] = [[] for _ in segments]
    index = 0
    for word in labelled:
        middle = (float(word["start"]) + float(word["end"])) / 2
        while index + 1 < len(segments) and middle >= float(segments[index + 1]["start"]):
            index += 1
        if segments:
            owned[index].append(word)
    out: list[dict[str, Any]] = []
    for segment, words in zip(segments, owned, strict=True):
        pieces = turns(words, pause_s=float("inf"))
        if len(pieces) <= 1:
            speaker = pieces[0].speaker if pieces else (out[-1]["speaker"] if out else 0)
            out.append(dict(segment, speaker=speaker))
            continue
        for piece in pieces:
            cut = {"start": piece.start, "end": piece.end, "text": piece.text, "tokens": [], "speaker": piece.speaker}
            out.append(dict(segment, **cut))
    return [dict(segment, id=number) for number, segment in enumerate(out)]
