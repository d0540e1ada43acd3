"""Speaker labels: accuracy and compute, measured side by side with the transcription of the same clips.

For each voice set (the tuning voices and the held-out ones of tests/support/diarization.py) it builds
clips of 1, 2 and 3 speakers (every rotation of the voices, so every voice leads once), a 3-speaker
clip whose turns follow each other without a pause, and one long 3-speaker conversation; transcribes
each with tiny.en (word timestamps, beam 5, as the worker does), labels the words, and prints per clip:
speakers found, word-speaker accuracy, and the diarization's compute as seconds per minute of audio and
as a ratio to the transcription of the same clip.

It exports the CAM++ model into a temporary directory first (torch is only needed for that).
Usage: python bench/diarization.py [--threads 1] [--long-turns 24]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from faster_whisper import WhisperModel  # noqa: E402

from asr_engine import bundled  # noqa: E402
from asr_engine.diarization import Diarizer  # noqa: E402
from asr_engine.diarization.export import export  # noqa: E402
from asr_engine.transcriber import Options, transcribe  # noqa: E402
from tests.support.diarization import HELD_OUT_VOICES, TUNING_VOICES, conversation, word_accuracy  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads (ASR_DIARIZATION_THREADS)")
    parser.add_argument("--asr-threads", type=int, default=2, help="CTranslate2 threads of tiny.en")
    parser.add_argument("--long-turns", type=int, default=24, help="sentences in the long conversation")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "campplus.onnx"
        export(model_path)
        diarizer = Diarizer(model_path, threads=args.threads)
        asr = WhisperModel(str(bundled.tiny_en()), device="cpu", compute_type="int8", cpu_threads=args.asr_threads)
        print(f"diarization threads {args.threads}, tiny.en threads {args.asr_threads}")
        header = f"{'set':8} {'clip':24} {'audio s':>7} {'true':>4} {'found':>5} {'acc':>6}"
        print(f"{header} {'diar s/min':>10} {'diar/asr':>8}")
        for name, voices in (("tuning", TUNING_VOICES), ("held-out", HELD_OUT_VOICES)):
            ratios, per_minute, right, accuracies = [], [], 0, []
            clips = [
                (f"{n} spk, rotation {r}", conversation(rotated[:n], turns, first_sentence=r))
                for n, turns in ((1, 3), (2, 4), (3, 6))
                for r, rotated in enumerate([voices[r:] + voices[:r] for r in range(3)])
            ]
            clips.append(("3 spk, no pauses", conversation(voices, 6, gap_s=0.0)))
            clips.append((f"3 spk, {args.long_turns} turns", conversation(voices, args.long_turns)))
            for label, clip in clips:
                started = time.perf_counter()
                result = transcribe(asr, None, clip.audio, Options(word_timestamps=True, beam_size=5))
                asr_s = time.perf_counter() - started
                started = time.perf_counter()
                labelled = diarizer.diarize(clip.audio, result["words"])
                diar_s = time.perf_counter() - started
                accuracy = word_accuracy(labelled.words, clip.turns)
                right += labelled.speakers == clip.speakers
                accuracies.append(accuracy)
                ratios.append(diar_s / asr_s)
                per_minute.append(diar_s / clip.duration * 60)
                print(
                    f"{name:8} {label:24} {clip.duration:7.1f} {clip.speakers:4d} {labelled.speakers:5d} "
                    f"{accuracy:6.1%} {per_minute[-1]:10.2f} {ratios[-1]:8.2f}"
                )
            print(
                f"{name}: speaker count right on {right}/{len(clips)} clips, word accuracy min {min(accuracies):.1%} "
                f"mean {statistics.mean(accuracies):.1%}; diarization {statistics.median(per_minute):.2f} s per "
                f"minute of audio (median), {statistics.median(ratios):.2f}x the transcription time of the same clip"
            )


if __name__ == "__main__":
    main()
