"""Live transcription capacity: N real-time streams through the gateway at once, as a customer sees it.

Every stream speaks the same audio: 8 utterances of 12 sentences (Piper; every other one two
sentences 0.25 s apart, 0.7-1.5 s between utterances), sent in 100 ms chunks on the audio clock to
`WS /v1/listen/stream` of a gateway process, which forwards to one ASR worker process. The streams
start at random moments within the first 6 s (about one utterance and its pause), so their speech
does not line up. For each N it prints:

- end of speech -> final (p50, p95): from the moment an utterance's last voiced sample was sent to
  its final's arrival (the endpoint's silence, 0.5 s by default, is part of it);
- first partial lag (p50, p95): an utterance's first partial arrival minus its onset plus the partial
  interval (1 s of speech, when the worker asks for it), so the decode and queueing delay it saw;
- WER of all finals against the sentences (the same audio in every stream: N=1 is the single-stream
  reference, and a difference is what N streams at once changed);
- utterances without a final ("missing": late beyond the next utterance's end, or lost) and sessions
  the gateway ended early ("failed");
- the worker's scheduler for that round (from its /health): live decodes per stream per second, how
  busy the model was (model seconds per second, summed over its workers: 200% is two workers full),
  and the mean number of decodes per batch;
- the load average before and after (other work on the machine slows every number).

Then it names the largest N whose p95 end of speech -> final is <= 1.5 s with nothing missing, beside
N=1 of the same run, and measures batch throughput: the same file through POST /v1/listen (the
worker, with its live scheduler), one at a time and all at once, against faster-whisper's
`transcribe` in this process the way the worker called it before the scheduler (one WhisperModel with
ASR_CPU_THREADS threads, one job at a time), as ratios.

Usage:
  python bench/asr_streams.py [--streams 1,2,4,8,12,16,20] [--threads 0] [--jobs 3]
  python bench/asr_streams.py --device cuda --model large-v3 --streams 1,16,32,64,96,128   # GPU host
(--model takes a CTranslate2 model directory too, where the GPU host cannot download one.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jiwer
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asr_engine.settings import AsrSettings  # noqa: E402
from tests.support import RedisServer, ServiceProcess  # noqa: E402
from tests.support.asr import DIALOGUE, normalize, piper_speech, to_wav, voiced  # noqa: E402
from tests.support.split import split_gateway, split_worker, wait_ready  # noqa: E402

RATE = 16000
CHUNK_S = 0.1
TARGET_P95_S = 1.5


@dataclass
class Utterance:
    text: str
    start_s: float  # first voiced sample, on the stream's audio clock
    end_s: float  # last voiced sample


@dataclass
class Script:
    pcm: bytes  # 16 kHz PCM16
    utterances: list[Utterance]

    @property
    def text(self) -> str:
        return " ".join(u.text for u in self.utterances)


def build_script(seed: int = 7) -> Script:
    """The conversation every stream speaks: 8 utterances of the 12 sentences (Piper)."""
    rng = random.Random(seed)
    audio = [voiced(s) for s in DIALOGUE]
    parts: list[np.ndarray] = [np.zeros(RATE // 2, dtype=np.int16)]
    utterances: list[Utterance] = []
    for k in range(0, len(DIALOGUE), 3):  # every other utterance is two sentences, 0.25 s apart
        breath = np.zeros(RATE // 4, dtype=np.int16)
        for text, pcm in (
            (DIALOGUE[k], audio[k]),
            (f"{DIALOGUE[k + 1]} {DIALOGUE[k + 2]}", np.concatenate([audio[k + 1], breath, audio[k + 2]])),
        ):
            at = sum(len(p) for p in parts)
            utterances.append(Utterance(text, at / RATE, (at + len(pcm)) / RATE))
            parts += [pcm, np.zeros(int(rng.uniform(0.7, 1.5) * RATE), dtype=np.int16)]
    parts.append(np.zeros(RATE, dtype=np.int16))
    return Script(np.concatenate(parts).astype("<i2").tobytes(), utterances)


@dataclass
class StreamResult:
    script: Script
    started: float = 0.0
    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    failed: str = ""  # why the session ended early (an overloaded worker falls behind and is cut off)

    def finals(self) -> list[tuple[float, str]]:
        return [(t, m["transcript"]) for t, m in self.messages if m.get("is_final") and not m.get("is_last")]

    def final_latencies(self) -> list[float]:
        """Each final belongs to the first utterance whose audio ended before it arrived."""
        pending = [self.started + u.end_s for u in self.script.utterances]
        latencies = []
        for arrived, text in self.finals():
            if not text:
                continue
            while len(pending) > 1 and pending[1] <= arrived:
                pending.pop(0)  # an utterance with no final of its own (merged with the next)
            if pending and pending[0] <= arrived:
                latencies.append(arrived - pending.pop(0))
        return latencies

    def first_partial_lags(self, interval_s: float) -> list[float]:
        lags = []
        partials = [t for t, m in self.messages if m.get("is_final") is False]
        for utterance in self.script.utterances:
            if utterance.end_s - utterance.start_s < interval_s + 0.3:
                continue  # too short to be sure a partial was asked for
            due = self.started + utterance.start_s + interval_s
            first = next((t for t in partials if t >= due - 0.2), None)
            if first is not None and first <= self.started + utterance.end_s + 1.0:
                lags.append(first - due)
        return lags


async def run_stream(url: str, script: Script, delay_s: float) -> StreamResult:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    result = StreamResult(script)
    await asyncio.sleep(delay_s)
    chunk = int(CHUNK_S * RATE) * 2
    async with connect(url, max_size=None) as ws:

        async def receive() -> None:
            async for raw in ws:
                result.messages.append((time.perf_counter(), json.loads(raw)))

        receiver = asyncio.create_task(receive())
        result.started = time.perf_counter()
        try:
            for index, offset in enumerate(range(0, len(script.pcm), chunk)):
                # On the audio clock, not after a fixed sleep: no drift over the minute.
                await asyncio.sleep(max(0.0, result.started + index * CHUNK_S - time.perf_counter()))
                await ws.send(script.pcm[offset : offset + chunk])
            await ws.send(json.dumps({"type": "close_stream"}))
            await asyncio.wait_for(receiver, 120)
        except ConnectionClosed as exc:
            result.failed = f"{exc.rcvd.code if exc.rcvd else '-'} {exc.rcvd.reason if exc.rcvd else ''}"
            receiver.cancel()
    return result


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def scheduler_stats(worker: ServiceProcess) -> dict[str, float]:
    """The worker's scheduler counters, empty where the worker has none."""
    stats = httpx.get(f"{worker.url}/health", timeout=5).json().get("scheduler") or {}
    return {k: float(v) for k, v in stats.items() if isinstance(v, int | float)}


@dataclass
class Round:
    streams: int
    finals: list[float]
    partial_lags: list[float]
    wer: float
    missing: int
    failed: int
    decode_rate: float | None  # live decodes per stream per second
    busy: float | None
    mean_batch: float | None
    load: tuple[float, float]


async def run_round(url: str, scripts: list[Script]) -> list[StreamResult]:
    rng = random.Random(len(scripts))
    delays = [0.0] + [rng.uniform(0.0, 6.0) for _ in scripts[1:]]
    return await asyncio.gather(*(run_stream(url, s, d) for s, d in zip(scripts, delays, strict=True)))


def measure(worker: ServiceProcess, url: str, scripts: list[Script], interval_s: float) -> Round:
    load_before = os.getloadavg()[0]
    before, wall = scheduler_stats(worker), time.perf_counter()
    results = asyncio.run(run_round(url, scripts))
    after, wall = scheduler_stats(worker), time.perf_counter() - wall
    finals = [x for r in results for x in r.final_latencies()]
    lags = [x for r in results for x in r.first_partial_lags(interval_s)]
    refs = [normalize(r.script.text) for r in results]
    hyps = [normalize(" ".join(t for _, t in r.finals())) or "<empty>" for r in results]
    wer = float(jiwer.wer(refs, hyps))
    if os.environ.get("BENCH_DUMP"):
        for ref, hyp in zip(refs, hyps, strict=True):
            print(f"REF {ref}\nHYP {hyp}")
    missing = sum(len(r.script.utterances) for r in results) - len(finals)
    failed = sum(1 for r in results if r.failed)
    busy = mean_batch = rate = None
    if "busy_s" in after:
        busy = (after["busy_s"] - before.get("busy_s", 0)) / wall
        batches = after["batches"] - before.get("batches", 0)
        decodes = after["decoded"] - before.get("decoded", 0)
        mean_batch = decodes / batches if batches else 0.0
        rate = decodes / wall / len(scripts)
    load = (load_before, os.getloadavg()[0])
    return Round(len(scripts), finals, lags, wer, missing, failed, rate, busy, mean_batch, load)


def worker_settings(worker_env: dict[str, str]) -> AsrSettings:
    """The settings the worker runs with: this process's environment under the worker's own variables."""
    return AsrSettings(**{k.lower(): v for k, v in worker_env.items()})  # type: ignore[arg-type]


def batch_throughput(gateway_url: str, worker_env: dict[str, str], jobs: int) -> tuple[float, float, float, float]:
    """(file seconds, in-process audio s/s, worker audio s/s one file at a time, worker audio s/s with
    `jobs` files at once). In-process is the worker's call before the scheduler: one WhisperModel,
    ASR_CPU_THREADS intra-op threads (0: CTranslate2's default), one job at a time. It alternates with
    the one-at-a-time requests, so that other load on the machine falls on both alike."""
    from faster_whisper import WhisperModel

    from asr_engine.model import resolve_device, resolve_model
    from asr_engine.transcriber import Options, transcribe
    from common.pcm import pcm16_to_float

    speech = piper_speech(DIALOGUE[:8], pause_s=0.8)
    wav = to_wav(np.frombuffer(speech.pcm16k(), dtype="<i2"), RATE)
    audio = pcm16_to_float(speech.pcm16k())
    settings = worker_settings(worker_env)
    path, _ = resolve_model(settings)
    device, compute_type = resolve_device(settings)
    model = WhisperModel(path, device=device, compute_type=compute_type, cpu_threads=settings.asr_cpu_threads)
    opts = Options(beam_size=settings.asr_beam_size)

    async def post(http: httpx.AsyncClient) -> None:
        (await http.post(f"{gateway_url}/v1/listen", content=wav)).raise_for_status()

    async def measure() -> tuple[float, float, float]:
        local_s = single_s = 0.0
        async with httpx.AsyncClient(timeout=600) as http:
            await post(http)  # warm-up, both ways
            transcribe(model, None, audio, opts)
            for _ in range(jobs):
                started = time.perf_counter()
                await post(http)
                single_s += time.perf_counter() - started
                started = time.perf_counter()
                transcribe(model, None, audio, opts)
                local_s += time.perf_counter() - started
            started = time.perf_counter()
            await asyncio.gather(*(post(http) for _ in range(jobs)))
            return local_s, single_s, time.perf_counter() - started

    local_s, single_s, burst_s = asyncio.run(measure())
    duration = len(audio) / RATE
    return duration, jobs * duration / local_s, jobs * duration / single_s, jobs * duration / burst_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", default="1,2,4,8,12,16,20", help="the N to measure, in order")
    parser.add_argument("--threads", type=int, default=None, help="ASR_CPU_THREADS of the worker (default: its own)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--model", default="", help="ASR_MODEL (default: the profile's: tiny.en on cpu)")
    parser.add_argument("--jobs", type=int, default=3, help="batch files each way for the throughput ratio; 0: skip")
    parser.add_argument("--env", action="append", default=[], help="extra worker setting NAME=VALUE")
    args = parser.parse_args()
    counts = [int(n) for n in args.streams.split(",")]

    scripts = [build_script()] * max(counts)
    audio_s = len(scripts[0].pcm) / 2 / RATE
    utterances = len(scripts[0].utterances)
    workdir = Path(tempfile.mkdtemp(prefix="bench-asr-streams-"))
    redis_server = RedisServer(workdir)
    redis_url = redis_server.url
    worker_env = {"ASR_DEVICE": args.device, "ASR_MODEL": args.model, "ASR_MAX_SESSIONS": str(max(counts) + 4)}
    if args.device == "cuda":
        worker_env["PROFILE"] = "gpu"
    worker_env["ASR_CPU_THREADS"] = str(args.threads if args.threads is not None else _default_threads())
    worker_env.update(dict(item.split("=", 1) for item in args.env))
    processes: list[ServiceProcess] = []
    rounds: list[Round] = []
    throughput = None
    try:
        redis_server.start()
        worker = split_worker(redis_url, workdir, "worker", **worker_env)
        processes.append(worker)
        wait_ready(worker, "/health", "ASR worker", 600)
        # The gateway stays in the cpu profile: it only forwards audio here (no TTS, no GPU).
        gateway = split_gateway(redis_url, workdir, "gateway", MAX_STREAM_SESSIONS=str(max(counts) + 4))
        processes.append(gateway)
        health = httpx.get(f"{worker.url}/health", timeout=5).json()
        interval_s = worker_settings(worker_env).asr_stream_partial_interval_s
        url = f"ws://127.0.0.1:{gateway.port}/v1/listen/stream"
        print(
            f"model {health['model']} on {health['device']}/{health['compute_type']}, worker settings "
            f"{' '.join(f'{k}={v}' for k, v in worker_env.items() if v)}; {os.cpu_count()} CPU cores\n"
            f"each stream: {audio_s:.1f} s of audio, {utterances} utterances, real time, 100 ms chunks",
            flush=True,
        )
        asyncio.run(run_round(url, scripts[:1]))  # warm-up: first-call allocations
        for count in counts:
            rounds.append(measure(worker, url, scripts[:count], interval_s))
            _print_round(rounds[-1], len(rounds) == 1)
        if args.jobs:
            throughput = batch_throughput(gateway.url, worker_env, args.jobs)
    except BaseException:
        print(f"failed; the logs are kept in {workdir}")
        raise
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    finally:
        for process in reversed(processes):
            process.stop()
        redis_server.stop()

    held = [
        r for r in rounds if r.finals and percentile(r.finals, 95) <= TARGET_P95_S and not (r.missing or r.failed)
    ]
    one = next((r for r in rounds if r.streams == 1), None)
    print()
    if held:
        best = max(held, key=lambda r: r.streams)
        print(f"largest N with p95 end of speech -> final <= {TARGET_P95_S} s: {best.streams} streams "
              f"(p50 {statistics.median(best.finals):.2f} s, p95 {percentile(best.finals, 95):.2f} s, "
              f"WER {best.wer:.3f})")
    else:
        print(f"no N held p95 end of speech -> final <= {TARGET_P95_S} s")
    if one:
        print(f"one-stream baseline, same run: p50 {statistics.median(one.finals):.2f} s, "
              f"p95 {percentile(one.finals, 95):.2f} s, WER {one.wer:.3f}")
        if held:
            print(f"WER at {best.streams} streams minus one stream: {best.wer - one.wer:+.3f}")
    if throughput:
        duration, local, single, burst = throughput
        print(f"batch throughput, {args.jobs} files of {duration:.1f} s (audio s per s): before the scheduler "
              f"(in-process, one at a time) {local:.1f}; through the worker one at a time {single:.1f} "
              f"(ratio {single / local:.2f}), all {args.jobs} at once {burst:.1f} (ratio {burst / local:.2f})")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def _default_threads() -> int:
    return AsrSettings().asr_cpu_threads


def _print_round(r: Round, header: bool) -> None:
    if header:
        print(f"\n{'N':>3} {'final p50':>10} {'final p95':>10} {'partial p50':>12} {'partial p95':>12} "
              f"{'WER':>6} {'missing':>8} {'failed':>7} {'dec/s':>6} {'busy':>5} {'batch':>6} {'load':>10}")
    busy = f"{r.busy:.0%}" if r.busy is not None else "-"
    batch = f"{r.mean_batch:.1f}" if r.mean_batch is not None else "-"
    rate = f"{r.decode_rate:.2f}" if r.decode_rate is not None else "-"
    print(f"{r.streams:>3} {statistics.median(r.finals) if r.finals else float('nan'):>10.2f} "
          f"{percentile(r.finals, 95):>10.2f} "
          f"{statistics.median(r.partial_lags) if r.partial_lags else float('nan'):>12.2f} "
          f"{percentile(r.partial_lags, 95):>12.2f} {r.wer:>6.3f} {r.missing:>8} {r.failed:>7} {rate:>6} {busy:>5} "
          f"{batch:>6} {r.load[0]:>4.1f}-{r.load[1]:<4.1f}", flush=True)


if __name__ == "__main__":
    main()
