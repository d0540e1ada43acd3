"""Batch ASR throughput with 1, 2 and 3 workers, as a ratio to 1 worker measured in the same run.

Each worker runs in its split role (`APPLIANCE_ROLE=asr-worker scripts/start.sh`) with one
CTranslate2 worker (ASR_INTER_THREADS=1) of ASR_CPU_THREADS threads; one gateway (gateway role)
takes the requests; all share one redis-server.
The same batch of synchronous POST /v1/listen requests (Piper speech, concurrency = --concurrency)
is sent for every worker count; throughput = audio seconds transcribed per wall-clock second.

What limits it is printed too: the CPU cores of this machine against the threads the workers use
(workers x ASR_CPU_THREADS). Past the core count, more workers only share the same cores.
Usage: python bench/asr_scale.py [--jobs 12] [--concurrency 6] [--threads 1] [--workers 1,2,3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import RedisServer, ServiceProcess  # noqa: E402
from tests.support.asr import SENTENCES, piper_speech  # noqa: E402
from tests.support.split import split_gateway, split_worker, wait_ready  # noqa: E402


async def run_batch(url: str, wav: bytes, jobs: int, concurrency: int) -> float:
    """Send `jobs` synchronous transcriptions, `concurrency` at a time; the wall-clock seconds."""
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=600) as http:

        async def one() -> None:
            async with gate:
                response = await http.post(f"{url}/v1/listen", content=wav)
                response.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(jobs)))
        return time.perf_counter() - start


def measure(redis_url: str, workdir: Path, count: int, args: argparse.Namespace, wav: bytes, audio_s: float) -> float:
    workers: list[ServiceProcess] = []
    gateway: ServiceProcess | None = None
    try:
        workers = [
            split_worker(
                redis_url, workdir, f"w{count}-{i}", ASR_CPU_THREADS=str(args.threads), ASR_INTER_THREADS="1",
                ASR_BEAM_SIZE="1",
            )
            for i in range(count)
        ]
        for worker in workers:
            wait_ready(worker, "/health", "ASR worker")
        gateway = split_gateway(redis_url, workdir, f"g{count}", ASR_MAX_ACTIVE=str(args.concurrency))
        asyncio.run(run_batch(gateway.url, wav, min(2, args.jobs), args.concurrency))  # warm-up
        seconds = asyncio.run(run_batch(gateway.url, wav, args.jobs, args.concurrency))
        return args.jobs * audio_s / seconds
    finally:
        for process in [*workers, *([gateway] if gateway else [])]:
            process.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1, help="ASR_CPU_THREADS of each worker")
    parser.add_argument("--workers", default="1,2,3")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    load_before = os.getloadavg()[0]
    speech = piper_speech(SENTENCES, pause_s=0.5)
    wav = speech.wav()
    workdir = Path(tempfile.mkdtemp(prefix="asr-scale-"))
    with RedisServer(workdir) as redis_server:
        results = {}
        for count in counts:
            results[count] = measure(redis_server.database(count), workdir, count, args, wav, speech.duration)
            print(f"  {count} worker(s): {results[count]:.2f} audio s / s", flush=True)

    cores = os.cpu_count() or 1
    base = results[counts[0]]
    print(f"\nBatch ASR throughput, {args.jobs} jobs of {speech.duration:.1f} s, concurrency {args.concurrency}, "
          f"ASR_CPU_THREADS={args.threads}, {cores} CPU cores")
    print(f"{'workers':>8} {'threads':>8} {'audio s/s':>10} {'ratio':>7} {'ideal':>7}")
    for count in counts:
        threads = count * args.threads
        ideal = min(threads, cores) / min(counts[0] * args.threads, cores)
        print(f"{count:>8} {threads:>8} {results[count]:>10.2f} {results[count] / base:>7.2f} {ideal:>7.2f}")
    print(f"load average before the run: {load_before:.1f} on {cores} cores (work of other processes the "
          "workers had to share the cores with)")
    print("ideal = the ratio the CPU cores allow (workers x threads, capped at the core count): past it, "
          "workers only share cores; the gateway, Redis and the client share them too.")


if __name__ == "__main__":
    main()
