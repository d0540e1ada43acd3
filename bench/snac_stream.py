"""SNAC streaming decode benchmark: compute per second of audio, exactness, time to first audio.

Prints, from one run on one machine (ratios against the whole-utterance decode measured here):
  (a) fixed 4-frame window re-decoded for every new frame (what public Orpheus-style servers do),
  (b) the whole utterance in one call (the reference),
  (c) this project's streaming decoder (stateful convolutions: every sample computed once),
for several utterance lengths; then tokens needed before the first audio, and on CUDA the real-time
streams one GPU decodes at once with and without cross-stream batching. Weights: SNAC_MODEL_PATH
(--model) or the 24 kHz architecture with seeded random weights (same compute; the sound is noise).

  python bench/snac_stream.py [--seconds 2,4,12] [--repeats 3] [--model DIR] [--device auto]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tts_engine.svara.snac.decoder import StreamDecoder  # noqa: E402
from tts_engine.svara.snac.engine import SnacEngine, resolve_device  # noqa: E402
from tts_engine.svara.snac.model import SNAC_24KHZ_CONFIG  # noqa: E402

SEED = 99


def build_engine(model: str | None, device: str, batching: bool) -> SnacEngine:
    if model:
        return SnacEngine.load(model, device=device, batching=batching)
    from snac import SNAC

    torch.manual_seed(1234)
    return SnacEngine(SNAC(**SNAC_24KHZ_CONFIG).eval().to(device), device=device, batching=batching)


def sync(engine: SnacEngine) -> None:
    if engine.device.startswith("cuda"):
        torch.cuda.synchronize()


def fixed_window(engine: SnacEngine, frames: np.ndarray) -> np.ndarray:
    """Public servers: once 4 frames exist, decode the last 4 for every new frame, keep the 2nd one.
    (They lose the first and last frames; we keep the same compute pattern for the timing.)"""
    spf = engine.samples_per_frame
    out = []
    for end in range(4, len(frames) + 1):
        first = end - 4
        audio = engine.decode_batch([frames[first:end]], [first], [SEED])[0]
        out.append(audio[spf : 2 * spf])
    return np.concatenate(out)


async def streaming(engine: SnacEngine, frames: np.ndarray, fast_start: bool = False) -> tuple[np.ndarray, int]:
    decoder = StreamDecoder(engine, seed=SEED, fast_start=fast_start)
    pieces = [a for f in frames if (a := await decoder.push(f)) is not None]
    tail = await decoder.finish()
    pieces += [tail] if tail is not None else []
    return np.concatenate(pieces), int(decoder.frames_at_first_audio or 0)


def snr_db(test: np.ndarray, reference: np.ndarray) -> float:
    error = float(np.sum((test.astype(np.float64) - reference) ** 2))
    return 10 * np.log10(float(np.sum(reference.astype(np.float64) ** 2)) / max(error, 1e-30))


def timed(fn, repeats: int, engine: SnacEngine):  # type: ignore[no-untyped-def]
    best, result = float("inf"), None
    for _ in range(repeats):
        sync(engine)
        start = time.perf_counter()
        result = fn()
        sync(engine)
        best = min(best, time.perf_counter() - start)
    return best, result


async def concurrent_streams(engine: SnacEngine, frames: np.ndarray, streams: int) -> float:
    """Real-time factor of N streams decoded at once: seconds of audio per wall second."""
    async def one(seed: int) -> None:
        decoder = StreamDecoder(engine, seed=seed)
        for frame in frames:
            await decoder.push(frame)
            await asyncio.sleep(0)  # let the other streams queue their spans
        await decoder.finish()

    sync(engine)
    start = time.perf_counter()
    await asyncio.gather(*(one(s) for s in range(streams)))
    sync(engine)
    audio_s = streams * len(frames) * engine.samples_per_frame / engine.sample_rate
    return audio_s / (time.perf_counter() - start)


def compute_rows(engine: SnacEngine, seconds: float, repeats: int) -> tuple[np.ndarray, float]:
    """Print (a), (b), (c) for one utterance length; return its frames and (c)/(b)."""
    count = max(4, round(seconds * engine.sample_rate / engine.samples_per_frame))
    frames = np.random.default_rng(0).integers(0, 4096, size=(count, 7))
    audio_s = count * engine.samples_per_frame / engine.sample_rate
    spf = engine.samples_per_frame
    t_whole, whole = timed(lambda: engine.decode_whole(frames, SEED), repeats, engine)
    t_fixed, fixed = timed(lambda: fixed_window(engine, frames), repeats, engine)
    t_stream, (streamed, _) = timed(lambda: asyncio.run(streaming(engine, frames)), repeats, engine)
    rows = [
        ("(a) fixed 4-frame window", t_fixed, snr_db(fixed, whole[spf : spf + len(fixed)])),
        ("(b) whole utterance (reference)", t_whole, float("inf")),
        ("(c) streaming (this)", t_stream, snr_db(streamed, whole)),
    ]
    for name, elapsed, snr in rows:
        print(f"{audio_s:7.2f} {name:34} {elapsed / audio_s:20.4f} {elapsed / t_whole:8.2f} {snr:16.1f}")
    return frames, t_stream / t_whole


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", default="2,4,12", help="utterance lengths, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None, help="SNAC directory or hub name (default: seeded random)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--streams", default="8,32,64", help="concurrent streams to try on CUDA")
    args = parser.parse_args()

    device = resolve_device(args.device)
    engine = build_engine(args.model, device, batching=False)
    warm = np.zeros((8, 7), dtype=np.int64)
    engine.decode_whole(warm, SEED)  # warm-up (kernels, allocator)
    asyncio.run(streaming(engine, warm))
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} "
          f"receptive-field delay={engine.streamer.delay} samples")
    print()
    print(f"{'audio s':>7} {'decoder':34} {'compute s / audio s':>20} {'x whole':>8} {'SNR vs whole dB':>16}")
    ratios = {}
    for seconds in (float(s) for s in args.seconds.split(",")):
        frames, ratios[seconds] = compute_rows(engine, seconds, args.repeats)
    summary = ", ".join(f"{s:g} s: {r:.2f}" for s, r in ratios.items())
    print(f"\n(c)/(b) = {summary} (target <= 1.3)")

    whole = engine.decode_whole(frames, SEED)
    exact, first = asyncio.run(streaming(engine, frames))
    fast, fast_first = asyncio.run(streaming(engine, frames, fast_start=True))
    spf = engine.samples_per_frame
    print("\ntime to first audio (tokens generated before the first samples can be sent):")
    print(f"  (a) fixed window           {4 * 7:4d} tokens (4 frames)")
    print(f"  (c) exact (default)        {first * 7:4d} tokens ({first} frames)  SNR {snr_db(exact, whole):.1f} dB")
    print(f"  (c) fast start             {fast_first * 7:4d} tokens ({fast_first} frames)  "
          f"SNR {snr_db(fast, whole):.1f} dB overall, {snr_db(fast[:spf], whole[:spf]):.1f} dB on frame 0  "
          "[SNAC_FAST_START=true]")

    if not device.startswith("cuda"):
        print("\nstreams per GPU with vs without cross-stream batching: skipped (no CUDA device here)")
        return
    print("\nconcurrent streams (each the last utterance above, pushed as fast as decoding allows):")
    print(f"{'streams':>8} {'RTF no batching':>16} {'RTF batching':>13} {'gain':>6}")
    batched = SnacEngine(engine.model, device=device, batching=True)
    for streams in (int(s) for s in args.streams.split(",")):
        solo = asyncio.run(concurrent_streams(engine, frames, streams))
        together = asyncio.run(concurrent_streams(batched, frames, streams))
        print(f"{streams:8d} {solo:16.1f} {together:13.1f} {together / solo:6.2f}")
    print("RTF = seconds of audio decoded per wall second = real-time streams one GPU sustains.")


if __name__ == "__main__":
    main()
