"""TTS benchmark (CPU profile, Piper): prints one table per measure, each against a reference
measured in the same run.

1. Time to first audio byte through the gateway (HTTP, pcm) vs. the backend called in-process.
2. Real-time factor per output format (wall time / audio duration; < 1 is faster than real time).
3. Under load, at 1, 4, 8 and 16 concurrent streams: time to first audio (p50, p95) and aggregate
   throughput (audio seconds per wall second), "before" (first come, first served, TTS_MAX_ACTIVE=4)
   and "after" (scheduled by sentence, first audio first) on two gateways in the same run. Twice:
   as a burst (every stream starts at the same instant) and steady (each of N clients sends its next
   request when the last ends, as serving benchmarks count concurrency).
   Targets: after, p50 at 8 streams <= 4x p50 at 1 stream; throughput >= 0.9x before.

Run: python bench/tts.py [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.main import create_app  # noqa: E402
from app.settings import GatewaySettings  # noqa: E402
from tests.support import free_port, wait_until  # noqa: E402
from tts_engine.base import SynthesisRequest  # noqa: E402
from tts_engine.piper_backend import PiperBackend  # noqa: E402
from tts_engine.text import normalize_text, split_text  # noqa: E402

TEXT = (
    "Thank you for calling. Your appointment is confirmed for Tuesday at ten in the morning. "
    "Please arrive fifteen minutes early and bring your documents. If you need to change the time, "
    "call us back or reply to the message we sent you."
)
FORMATS = ["pcm", "wav", "mp3", "opus", "flac", "aac"]


def start_gateway(**overrides: object) -> tuple[str, uvicorn.Server, threading.Thread]:
    port = free_port()
    settings = GatewaySettings(
        gateway_host="127.0.0.1",
        gateway_port=port,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        asr_port=free_port(),
        license_proxy_port=free_port(),
        profile="cpu",
        tts_piper_enabled=True,
        log_level="warning",
        engine_max_wait_s=600,  # the "before" gateway queues whole requests: no 503 in the benchmark
        **overrides,  # type: ignore[arg-type]
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return any(v["available"] for v in httpx.get(f"{url}/v1/voices", timeout=2).json()["voices"])
        except (httpx.HTTPError, ValueError, KeyError):
            return False

    wait_until(ready, 120, "the gateway's Piper voice")
    return url, server, thread


async def backend_first_chunk(backend: PiperBackend) -> float:
    """What the gateway does before its first byte, minus HTTP: normalise, split, synthesise piece 1."""
    started = time.perf_counter()
    voice = backend.voices()[0]
    first_piece = split_text(normalize_text(TEXT, voice.language))[0]
    chunks = backend.synthesize(SynthesisRequest(text=first_piece, voice=voice))
    await anext(chunks)
    elapsed = time.perf_counter() - started
    await chunks.aclose()  # type: ignore[attr-defined]
    return elapsed


async def gateway_request(client: httpx.AsyncClient, url: str, fmt: str) -> tuple[float, float, int]:
    """(time to first byte, total time, bytes) of one streamed request."""
    started = time.perf_counter()
    first, size = 0.0, 0
    body = {"input": TEXT, "voice": "en_us_joe", "response_format": fmt}
    async with client.stream("POST", f"{url}/v1/audio/speech", json=body) as response:
        response.raise_for_status()
        async for part in response.aiter_bytes():
            if not first:
                first = time.perf_counter() - started
            size += len(part)
    return first, time.perf_counter() - started, size


async def audio_seconds(client: httpx.AsyncClient, url: str) -> float:
    _, _, size = await gateway_request(client, url, "pcm")
    return size / 2 / 22050


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def load_round(client: httpx.AsyncClient, url: str, streams: int) -> tuple[list[float], float]:
    """Time to first audio of every stream, and audio seconds produced per wall second."""
    started = time.perf_counter()
    results = await asyncio.gather(*(gateway_request(client, url, "pcm") for _ in range(streams)))
    wall = time.perf_counter() - started
    return [first for first, _, _ in results], sum(size for _, _, size in results) / 2 / 22050 / wall


async def steady_round(
    client: httpx.AsyncClient, url: str, streams: int, requests_each: int
) -> tuple[list[float], float]:
    """`streams` clients, each sending its next request as soon as the last one ends (a closed loop,
    as serving benchmarks count concurrency). Each client's first request is left out of the times:
    those start together, which the burst table measures."""
    firsts: list[float] = []
    size = 0

    async def one_client() -> None:
        nonlocal size
        for index in range(requests_each):
            first, _, got = await gateway_request(client, url, "pcm")
            size += got
            if index:
                firsts.append(first)

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(streams)))
    return firsts, size / 2 / 22050 / (time.perf_counter() - started)


async def load_tables(client: httpx.AsyncClient, url: str, before_url: str, repeat: int) -> None:
    """Burst and steady load, "before" and "after" alternately so both see the same machine."""

    async def burst(target: str, streams: int) -> tuple[list[float], float]:
        # The single stream is every ratio's denominator: it gets as many samples as 8 streams get.
        firsts: list[float] = []
        rates: list[float] = []
        for _ in range({1: 3 * repeat, 4: repeat}.get(streams, 1)):
            got, rate = await load_round(client, target, streams)
            firsts += got
            rates.append(rate)
        return firsts, statistics.median(rates)

    async def steady(target: str, streams: int) -> tuple[list[float], float]:
        return await steady_round(client, target, streams, requests_each=1 + (3 * repeat if streams == 1 else repeat))

    header = ["streams", "mode", "TTFA p50 ms", "p95 ms", "p50 / 1 stream", "audio s/s", "vs before"]
    for title, measure in (
        ("Burst (pcm): all streams start at the same instant", burst),
        ("Steady (pcm): the streams kept open, each client sending its next request when the last ends", steady),
    ):
        rows: list[list[str]] = []
        single: dict[str, float] = {}
        for streams in (1, 4, 8, 16):
            measured: dict[str, tuple[list[float], float]] = {}
            for mode, target in (("before", before_url), ("after", url)):
                measured[mode] = await measure(target, streams)
            for mode, (firsts, rate) in measured.items():
                p50, p95 = statistics.median(firsts), percentile(firsts, 0.95)
                single.setdefault(mode, p50)
                rows.append([
                    str(streams), mode, f"{p50 * 1000:.0f}", f"{p95 * 1000:.0f}", f"{p50 / single[mode]:.2f}",
                    f"{rate:.1f}", f"{rate / measured['before'][1]:.2f}",
                ])
        table(
            f"{title}; before = first come first served, TTS_MAX_ACTIVE=4; after = by sentence, first audio "
            "first.\nTargets (after): p50 ratio at 8 <= 4, throughput ratio >= 0.90",
            header,
            rows,
        )


async def main(repeat: int) -> None:
    url, server, thread = start_gateway()
    before_url, before_server, before_thread = start_gateway(tts_first_audio_first=False, tts_max_active=4)
    backend = PiperBackend(max_concurrency=1)
    await backend.load()
    async with httpx.AsyncClient(timeout=300) as client:
        await gateway_request(client, url, "pcm")  # warm-up
        await backend_first_chunk(backend)
        direct = [await backend_first_chunk(backend) for _ in range(repeat)]
        via = [(await gateway_request(client, url, "pcm"))[0] for _ in range(repeat)]
        d, g = statistics.median(direct), statistics.median(via)
        table(
            f"Time to first audio (median of {repeat})",
            ["path", "ms", "ratio"],
            [
                ["backend in-process", f"{d * 1000:.1f}", "1.00"],
                ["gateway HTTP pcm", f"{g * 1000:.1f}", f"{g / d:.2f}"],
            ],
        )

        seconds = await audio_seconds(client, url)
        rows = []
        pcm_rtf = None
        for fmt in FORMATS:
            totals = [(await gateway_request(client, url, fmt))[1] for _ in range(repeat)]
            rtf = statistics.median(totals) / seconds
            pcm_rtf = pcm_rtf or rtf
            rows.append([fmt, f"{rtf:.3f}", f"{rtf / pcm_rtf:.2f}"])
        table(
            f"Real-time factor per format ({seconds:.1f} s of audio; ratio to pcm)",
            ["format", "RTF", "ratio"],
            rows,
        )

        await gateway_request(client, before_url, "pcm")  # warm-up
        await load_tables(client, url, before_url, repeat)
    await backend.close()
    for srv, thr in ((server, thread), (before_server, before_thread)):
        srv.should_exit = True
        thr.join(20)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    asyncio.run(main(parser.parse_args().repeat))
