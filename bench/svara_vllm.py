"""Svara through the gateway against streaming from vLLM directly, measured in the same run.

For 1, 4 and 8 concurrent streams, prints time to first audio through the gateway (POST
/v1/text-to-speech, stream) against time to the first generated token from vLLM (the same request
body the gateway sends, streamed straight from /v1/completions), and tokens/s per stream both ways,
as ratios (gateway / direct). The gateway's share is the prompt building, SNAC decoding (3 frames
before the first audio) and the HTTP hop.

By default it starts vLLM's CPU build (.venv-vllm) with the Svara-shaped test model and its looping
voice, so every stream runs exactly --tokens tokens. With a GPU and the real model, start vLLM
yourself and pass --vllm-url (plus --snac-model for real SNAC weights).

  python bench/svara_vllm.py [--streams 1,4,8] [--tokens 280] [--vllm-url URL] [--snac-model DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.main import create_app  # noqa: E402
from tests.support import RedisServer, ServerThread, wait_until  # noqa: E402
from tests.support.real_vllm import API_KEY, SERVED_NAME, start_vllm, stop_vllm  # noqa: E402
from tests.support.svara import config_for_tests, seeded_snac_dir, svara_gateway_settings  # noqa: E402
from tests.support.svara_model import LOOP_VOICE, TEXTS  # noqa: E402
from tts_engine.base import SamplingParams  # noqa: E402
from tts_engine.svara.prompt import PromptTemplate  # noqa: E402
from tts_engine.svara.vllm_client import VllmClient, resolve_sampling  # noqa: E402
from tts_engine.voices import load_svara_voices  # noqa: E402


async def direct_stream(
    http: httpx.AsyncClient, url: str, body: dict[str, object], api_key: str
) -> tuple[float, float]:
    """(seconds to the first token, tokens/s) for one stream straight from vLLM."""
    started = time.perf_counter()
    first, tokens = 0.0, 0
    auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with http.stream("POST", f"{url}/v1/completions", json=body, headers=auth) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data: ") and "custom_token_" in line:
                tokens += line.count("custom_token_")
                first = first or time.perf_counter() - started
    return first, tokens / (time.perf_counter() - started)


async def gateway_stream(
    http: httpx.AsyncClient, url: str, body: dict[str, object], tokens: int
) -> tuple[float, float]:
    """(seconds to the first audio byte, tokens/s) for one stream through the gateway."""
    started = time.perf_counter()
    first = 0.0
    async with http.stream("POST", f"{url}/v1/text-to-speech", json=body) as response:
        response.raise_for_status()
        async for chunk in response.aiter_bytes():
            if chunk:
                first = first or time.perf_counter() - started
    return first, tokens / (time.perf_counter() - started)


async def round_of(streams: int, run: object) -> tuple[float, float]:
    """Median time to first output and median tokens/s over `streams` concurrent streams."""
    results = await asyncio.gather(*(run() for _ in range(streams)))  # type: ignore[operator]
    return statistics.median(r[0] for r in results), statistics.median(r[1] for r in results)


async def measure(vllm_url: str, api_key: str, gateway_url: str, streams: list[int], tokens: int) -> None:
    template = PromptTemplate.load("svara-v1")
    voice = load_svara_voices()[LOOP_VOICE]
    sampling = resolve_sampling(SamplingParams(max_tokens=tokens, repetition_penalty=1.0, seed=1))
    config = config_for_tests(tts_llm_base_url=vllm_url, vllm_api_key=api_key, vllm_served_model_name=SERVED_NAME)
    client = VllmClient(config, stop_token_ids=template.stop_token_ids, frame_xargs=template.frame_xargs())
    direct_body = client.payload(template.build(voice.speaker, TEXTS[0]), sampling)
    gateway_body = {"text": TEXTS[0], "voice": LOOP_VOICE, "stream": True, "response_format": "pcm",
                    "max_tokens": tokens, "repetition_penalty": 1.0, "seed": 1}
    async with httpx.AsyncClient(timeout=600) as http:
        await direct_stream(http, vllm_url, direct_body, api_key)  # warm both paths once
        await gateway_stream(http, gateway_url, gateway_body, tokens)
        print(f"{tokens} tokens per stream ({tokens // 7} frames); medians over the concurrent streams\n")
        print("streams | first: direct  gateway  ratio | tokens/s per stream: direct  gateway  ratio")
        for n in streams:
            d_first, d_rate = await round_of(n, lambda: direct_stream(http, vllm_url, direct_body, api_key))
            g_first, g_rate = await round_of(n, lambda: gateway_stream(http, gateway_url, gateway_body, tokens))
            print(f"{n:7d} | {d_first * 1000:10.0f}ms {g_first * 1000:6.0f}ms {g_first / d_first:6.2f} |"
                  f" {d_rate:30.1f} {g_rate:8.1f} {g_rate / d_rate:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", default="1,4,8")
    parser.add_argument("--tokens", type=int, default=280, help="generated tokens per stream (7 per frame)")
    parser.add_argument("--vllm-url", help="a running vLLM serving the model as 'svara' (default: start one)")
    parser.add_argument("--vllm-api-key", default="", help="the API key of the vLLM at --vllm-url, if it has one")
    parser.add_argument("--snac-model", help="SNAC weights directory (default: seeded random weights)")
    args = parser.parse_args()
    logging.getLogger("tts_engine").setLevel(logging.ERROR)  # every stream ends at max_tokens by design

    workdir = Path(tempfile.mkdtemp(prefix="bench-svara-"))
    server = None if args.vllm_url else start_vllm(workdir / "vllm.log")
    vllm_url = args.vllm_url or server.url  # type: ignore[union-attr]
    api_key = args.vllm_api_key if args.vllm_url else API_KEY
    redis_server = RedisServer(workdir)
    try:
        redis_server.start()
        settings = svara_gateway_settings(
            redis_server.url,
            vllm_url,
            vllm_api_key=api_key,
            snac_model_path=args.snac_model or str(seeded_snac_dir()),
            snac_device="auto",
            svara_stall_timeout_s=120,
        )
        with ServerThread(create_app(settings)) as gateway:
            def ready() -> bool:
                health = httpx.get(f"{gateway.url}/health", timeout=5).json()
                return bool(health["components"]["svara"]["state"] == "ready")

            wait_until(ready, 120, "the gateway's Svara backend")
            streams = [int(n) for n in args.streams.split(",")]
            asyncio.run(measure(vllm_url, api_key, gateway.url, streams, args.tokens))
    finally:
        redis_server.stop()
        if server is not None:
            stop_vllm(server)


if __name__ == "__main__":
    main()
