"""What a live decode's encoder window costs in accuracy and time, on the same audio in one run.

The utterances: 12 Piper sentences alone, 6 pairs and 3 triples (0.25 s between sentences), each with
0.3 s before and 0.15 s after the speech, as a streaming final cuts them (2-11 s). Each strategy
decodes all of them; WER is against the sentences, time is per utterance in batches of 8 (the
reference decodes one at a time, as the worker did before the scheduler).

- faster-whisper `transcribe` (reference): one 30 s window per call, zeros after the features;
- batched, 30 s: the batched decoder with the full window (silence after the audio);
- batched, margin M / step S: the audio plus at least M s of silence, rounded up to S s.

Then the encoder alone: ms per stream for 30, 10 and 5 s windows at batch 1, 4 and 8.
Usage: python bench/asr_windows.py [--threads 2] [--model tiny.en]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import ctranslate2
import jiwer
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asr_engine.decoder import BatchDecoder, DecodeRequest  # noqa: E402
from asr_engine.model import resolve_model  # noqa: E402
from asr_engine.settings import AsrSettings  # noqa: E402
from common.pcm import pcm16_to_float  # noqa: E402
from tests.support.asr import DIALOGUE, normalize, voiced  # noqa: E402

RATE = 16000
STRATEGIES = [(30.0, 5.0), (4.0, 5.0), (4.0, 2.0), (2.0, 2.0), (0.0, 1.0)]  # (margin, step); 30: the full window


def utterances() -> list[tuple[str, np.ndarray]]:
    audio = [voiced(s) for s in DIALOGUE]
    gap = np.zeros(RATE // 4, dtype=np.int16)
    groups = [[k] for k in range(12)] + [[k, k + 1] for k in range(0, 12, 2)] + [[0, 2, 4], [1, 3, 5], [6, 8, 10]]
    out = []
    for group in groups:
        pcm = np.concatenate([part for k in group for part in (audio[k], gap)][:-1])
        before, after = np.zeros(RATE * 3 // 10, dtype=np.int16), np.zeros(RATE * 15 // 100, dtype=np.int16)
        pcm = np.concatenate([before, pcm, after])
        out.append((" ".join(DIALOGUE[k] for k in group), pcm16_to_float(pcm.astype("<i2").tobytes())))
    return out


def wer(refs: list[str], hyps: list[str]) -> float:
    return float(jiwer.wer([normalize(r) for r in refs], [normalize(h) or "<empty>" for h in hyps]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    from faster_whisper import WhisperModel

    path, name = resolve_model(AsrSettings(asr_model=args.model))
    compute_type = "int8" if args.device == "cpu" else "float16"
    model = WhisperModel(path, device=args.device, compute_type=compute_type, cpu_threads=args.threads)
    data = utterances()
    refs, audio = [t for t, _ in data], [a for _, a in data]
    shortest, longest = min(len(a) for a in audio) / RATE, max(len(a) for a in audio) / RATE
    print(f"{len(data)} utterances of {shortest:.1f}-{longest:.1f} s; {name} {compute_type} on {args.device}, "
          f"{args.threads} threads; load average {os.getloadavg()[0]:.1f}")

    rows = []
    for beam in (5, 1):
        started = time.perf_counter()
        texts = []
        for clip in audio:
            segments, _ = model.transcribe(clip, language="en", beam_size=beam, condition_on_previous_text=False)
            texts.append(" ".join(s.text.strip() for s in segments))
        seconds = (time.perf_counter() - started) / len(audio)
        rows.append((f"faster-whisper transcribe, beam {beam}", wer(refs, texts), seconds))
        for margin, step in STRATEGIES:
            decoder = BatchDecoder(model, margin_s=margin, step_s=step)
            label = "batched, 30 s window" if margin >= 30 else f"batched, margin {margin:g} s / step {step:g} s"
            started = time.perf_counter()
            results = []
            for i in range(0, len(audio), 8):
                results += decoder.decode([DecodeRequest(a, beam_size=beam, fallback=True) for a in audio[i : i + 8]])
            rows.append((f"{label}, beam {beam}", wer(refs, [r.text for r in results]),
                         (time.perf_counter() - started) / len(audio)))
    reference = rows[0]
    print(f"\n{'decode':<46}{'WER':>7}{'Δ WER':>8}{'ms/utt':>8}{'time':>7}")
    for label, value, seconds in rows:
        delta, ratio = value - reference[1], seconds / reference[2]
        print(f"{label:<46}{value:>7.3f}{delta:>+8.3f}{seconds * 1000:>8.0f}{ratio:>7.2f}")
    print("(Δ WER and time against the first row)")

    print(f"\nencoder only, ms per stream (median of 5), load average {os.getloadavg()[0]:.1f}")
    print(f"{'window':>8}{'batch 1':>9}{'batch 4':>9}{'batch 8':>9}")
    for window in (30, 10, 5):
        cells = []
        for batch in (1, 4, 8):
            zeros = np.zeros((batch, model.model.n_mels, window * 100), np.float32)
            features = ctranslate2.StorageView.from_array(zeros)
            model.model.encode(features)
            times = []
            for _ in range(5):
                started = time.perf_counter()
                model.model.encode(features)
                times.append(time.perf_counter() - started)
            cells.append(f"{np.median(times) / batch * 1000:>9.1f}")
        print(f"{window:>7}s{''.join(cells)}")


if __name__ == "__main__":
    main()
