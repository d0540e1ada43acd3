"""Batched Whisper decoding of short utterances, straight on the CTranslate2 model.

`WhisperModel.transcribe` decodes one 30 s window per call: a 2 s partial pays the encoder for 30 s
and every call of every stream queues behind the others. Here many utterances go through one
`encode` and one `generate` per shape, each on a window that follows its audio: the audio, then at
least `margin_s` of silence, rounded up to a multiple of `step_s` (a 3 s utterance: 10 s). Windows
that end right after the speech make Whisper repeat itself (WER above 1 on Piper speech); with 4 s of
silence after it the WER stays within 0.01 of the 30 s window (README, "Streaming capacity";
`bench/asr_windows.py` measures it). The window of a request depends on its own audio only, so the
same audio decodes to the same text whatever else shares its batch.

The decoding options are faster-whisper's `transcribe` defaults (suppressed tokens, first timestamp
within 1 s, no-speech rule, temperature fallback for finals), so results match it closely.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens, merge_punctuations

from common.asr_jobs import SAMPLE_RATE

MAX_WINDOW_S = 30  # what the encoder's positional embedding covers
_FRAMES_PER_S = 100  # mel frames (10 ms hop)
_HOP = SAMPLE_RATE // _FRAMES_PER_S
_N_FFT = 400  # samples in one frame's transform
_FALLBACK_TEMPERATURES = (0.2, 0.4, 0.6, 0.8, 1.0)
_BEST_OF = 5
# faster-whisper's thresholds: a repetitive or improbable decode is retried at a higher temperature;
# a probable "no speech" with an improbable text is silence.
_COMPRESSION_RATIO_MAX = 2.4
_LOGPROB_MIN = -1.0
_NO_SPEECH_MIN = 0.6
_MAX_INITIAL_TIMESTAMP_INDEX = 50  # 1 s
_PREPEND = "\"'“¿([{-"
_APPEND = "\"'.。,，!！?？:：”)]}、"


@dataclass(frozen=True)
class DecodeRequest:
    audio: np.ndarray  # float32 mono at SAMPLE_RATE, at most MAX_WINDOW_S (longer audio is cut)
    beam_size: int = 1
    language: str | None = None  # None: detected (multilingual models)
    prompt: str | None = None  # previous text: Whisper's initial prompt
    hotwords: str | None = None  # names and terms to expect (asr_engine.vocabulary)
    word_timestamps: bool = False
    fallback: bool = False  # retry a failed decode at higher temperatures (finals)


@dataclass(frozen=True)
class Word:
    word: str
    start: float  # seconds from the start of the request's audio
    end: float
    probability: float


@dataclass(frozen=True)
class DecodeResult:
    text: str
    language: str
    words: list[Word] = field(default_factory=list)


@dataclass(frozen=True)
class _Decoded:
    tokens: list[int]  # text tokens; none when the no-speech rule says silence
    avg_logprob: float
    compression_ratio: float
    needs_fallback: bool


@dataclass
class _Item:
    index: int
    request: DecodeRequest
    features: np.ndarray
    frames: int  # mel frames of audio in the window
    language: str | None
    tokens: list[int] = field(default_factory=list)


class BatchDecoder:
    """Blocking: call it from a worker thread. Safe to call from several threads at once."""

    def __init__(self, model: WhisperModel, *, margin_s: float = 4.0, step_s: float = 5.0) -> None:
        self.model = model
        self.margin_s = margin_s
        self.step_s = step_s
        self.multilingual = bool(model.model.is_multilingual)
        self._tokenizers: dict[str, Tokenizer] = {}
        self._suppress = list(get_suppressed_tokens(self._tokenizer("en"), [-1]))

    def window_s(self, duration_s: float) -> int:
        """The encoder window for audio of this length, in whole seconds."""
        steps = math.ceil((duration_s + self.margin_s) / self.step_s - 1e-9)
        return int(min(MAX_WINDOW_S, max(1, math.ceil(steps * self.step_s))))

    def decode(self, requests: list[DecodeRequest]) -> list[DecodeResult]:
        items = [self._item(i, r) for i, r in enumerate(requests)]
        groups: dict[Hashable, list[_Item]] = {}
        for item in items:
            r = item.request
            key = (item.features.shape[1], r.beam_size, len(self._prompt(item)), r.word_timestamps)
            groups.setdefault(key, []).append(item)
        results: list[DecodeResult | None] = [None] * len(items)
        for group in groups.values():
            for item, result in zip(group, self._decode_group(group), strict=True):
                results[item.index] = result
        return [r for r in results if r is not None]

    # --- one shape ---------------------------------------------------------------------------------
    def _item(self, index: int, request: DecodeRequest) -> _Item:
        audio = request.audio[: MAX_WINDOW_S * SAMPLE_RATE].astype(np.float32, copy=False)
        window_frames = self.window_s(len(audio) / SAMPLE_RATE) * _FRAMES_PER_S
        features = self._features(audio, window_frames)
        return _Item(index, request, features, len(audio) // _HOP + 1, self._language(request))

    def _features(self, audio: np.ndarray, window_frames: int) -> np.ndarray:
        """Log-mel features of the audio followed by silence up to the window, as Whisper's training
        pads it (silence, not zeros in the log-mel domain). Only the audio and the frames that
        overlap it are transformed: every later frame is silence, which the normalisation clamps to
        the loudest frame's value minus 8, so it is filled in directly (the same numbers)."""
        edge = min(len(audio) + _N_FFT, window_frames * _HOP)
        computed = self.model.feature_extractor(np.pad(audio, (0, edge + _N_FFT - len(audio))), padding=0)
        computed = computed[:, : min(edge // _HOP, window_frames)]
        features = np.empty((computed.shape[0], window_frames), dtype=np.float32)
        features[:, : computed.shape[1]] = computed
        # computed.min() is that clamped value whenever any computed frame is silent, and the edge
        # frames are (with at least _N_FFT zeros after the audio); an all-silent window is -1.5.
        features[:, computed.shape[1] :] = computed.min()
        return features

    def _language(self, request: DecodeRequest) -> str | None:
        return request.language if self.multilingual else "en"

    def _decode_group(self, group: list[_Item]) -> list[DecodeResult]:
        encoded = self._encode(group)
        if any(item.language is None for item in group):
            detected = self.model.model.detect_language(encoded)
            for item, languages in zip(group, detected, strict=True):
                if item.language is None:
                    item.language = languages[0][0][2:-2]  # "<|de|>" -> "de"
        outputs = self._generate(group, encoded, temperature=0.0)
        retry: list[tuple[_Item, list[_Decoded]]] = []
        for item, output in zip(group, outputs, strict=True):
            item.tokens = output.tokens
            if item.request.fallback and output.needs_fallback:
                retry.append((item, [output]))
        for temperature in _FALLBACK_TEMPERATURES:
            if not retry:
                break
            outputs = self._generate([item for item, _ in retry], self._encode([i for i, _ in retry]), temperature)
            still = []
            for (item, tried), output in zip(retry, outputs, strict=True):
                tried.append(output)
                item.tokens = output.tokens
                if output.needs_fallback:
                    still.append((item, tried))
            retry = still
        for item, tried in retry:  # every temperature failed: the most probable, as faster-whisper does
            readable = [o for o in tried if o.compression_ratio <= _COMPRESSION_RATIO_MAX] or tried
            item.tokens = max(readable, key=lambda o: o.avg_logprob).tokens
        words = self._words(group, encoded) if group[0].request.word_timestamps else [[] for _ in group]
        results = []
        for item, item_words in zip(group, words, strict=True):
            language = item.language or "en"
            results.append(DecodeResult(self._tokenizer(language).decode(item.tokens).strip(), language, item_words))
        return results

    def _encode(self, group: list[_Item]) -> ctranslate2.StorageView:
        features = np.ascontiguousarray(np.stack([item.features for item in group]))
        return self.model.model.encode(ctranslate2.StorageView.from_array(features), to_cpu=False)

    def _generate(
        self, group: list[_Item], encoded: ctranslate2.StorageView, temperature: float
    ) -> list[_Decoded]:
        request = group[0].request
        prompts = [self._prompt(item) for item in group]
        longest = max(item.frames for item in group) / _FRAMES_PER_S
        # Speech is under 8 tokens a second. The cap stops a decode that loops early, yet late enough
        # for the loop to show in the compression ratio (and be decoded again, for finals).
        max_new = min(self.model.max_length - len(prompts[0]), int(25 * longest) + 32)
        kwargs: dict[str, Any] = (
            {"beam_size": request.beam_size}
            if temperature == 0.0
            else {"beam_size": 1, "num_hypotheses": _BEST_OF, "sampling_topk": 0, "sampling_temperature": temperature}
        )
        results = self.model.model.generate(
            encoded,
            prompts,
            max_length=len(prompts[0]) + max_new,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self._suppress,
            max_initial_timestamp_index=_MAX_INITIAL_TIMESTAMP_INDEX,
            **kwargs,
        )
        outputs = []
        for item, result in zip(group, results, strict=True):
            tokens = [t for t in result.sequences_ids[0] if t < self._tokenizer("en").eot]
            avg_logprob = result.scores[0] * len(result.sequences_ids[0]) / (len(result.sequences_ids[0]) + 1)
            text = self._tokenizer(item.language or "en").decode(tokens).strip()
            ratio = get_compression_ratio(text) if text else 0.0
            silent = result.no_speech_prob > _NO_SPEECH_MIN and avg_logprob < _LOGPROB_MIN
            failed = ratio > _COMPRESSION_RATIO_MAX or avg_logprob < _LOGPROB_MIN
            outputs.append(_Decoded([] if silent else tokens, avg_logprob, ratio, not silent and failed))
        return outputs

    def _words(self, group: list[_Item], encoded: ctranslate2.StorageView) -> list[list[Word]]:
        # One alignment call takes one start sequence: where a multilingual model detected several
        # languages in one group, the first one's language token stands for all (timing barely moves).
        tokenizer = self._tokenizer(group[0].language or "en")
        alignments = self.model.find_alignment(
            tokenizer, [item.tokens for item in group], encoded, [item.frames for item in group]  # type: ignore[arg-type]
        )
        words = []
        for item, alignment in zip(group, alignments or [[] for _ in group], strict=True):
            merge_punctuations(alignment, _PREPEND, _APPEND)
            words.append(
                [
                    Word(a["word"].strip(), round(float(a["start"]), 3), round(float(a["end"]), 3), a["probability"])
                    for a in alignment
                    if a["word"] and item.tokens
                ]
            )
        return words

    # --- prompts -----------------------------------------------------------------------------------
    def _tokenizer(self, language: str) -> Tokenizer:
        if language not in self._tokenizers:
            self._tokenizers[language] = Tokenizer(
                self.model.hf_tokenizer, self.multilingual, task="transcribe", language=language
            )
        return self._tokenizers[language]

    def _prompt_context(self, prompt: str | None) -> list[int]:
        if not prompt:
            return []
        return list(self._tokenizer("en").encode(" " + prompt.strip()))

    def _prompt(self, item: _Item) -> list[int]:
        tokenizer = self._tokenizer(item.language or "en")
        request = item.request
        return self.model.get_prompt(tokenizer, self._prompt_context(request.prompt), hotwords=request.hotwords)
