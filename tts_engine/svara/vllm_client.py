"""Streaming client for vLLM's OpenAI-compatible /v1/completions (aiohttp).

Outcomes are distinct exceptions so the gateway can answer each one properly:
refused / restarting / 5xx before the stream -> SvaraUnavailable (503 + Retry-After);
4xx -> SvaraBadRequest; no bytes for `stall_timeout_s` -> SvaraStalled; the stream breaking after
it started (disconnect, error event, missing [DONE]) -> SvaraStreamFailed. When the consumer stops
iterating, the HTTP response is closed, and vLLM aborts a request whose client disconnected.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass

import aiohttp

from common.metrics import SVARA_UPSTREAM_ERRORS
from tts_engine.base import SAMPLING_BOUNDS, SamplingParams, check_sampling

from .config import SvaraConfig
from .errors import SvaraBadRequest, SvaraStalled, SvaraStreamFailed, SvaraUnavailable

log = logging.getLogger(__name__)

# DESIGN.md sampling defaults; the range a request may move each one within is SAMPLING_BOUNDS.
DEFAULT_SAMPLING = SamplingParams(temperature=0.75, top_p=0.9, top_k=40, repetition_penalty=1.1)


def resolve_sampling(request: SamplingParams) -> SamplingParams:
    """Request overrides on top of the defaults; raises SvaraBadRequest naming the field out of bounds."""
    check_sampling(request, SvaraBadRequest)
    return SamplingParams(**{
        name: value if (value := getattr(request, name)) is not None else getattr(DEFAULT_SAMPLING, name)
        for name in SAMPLING_BOUNDS
    })


@dataclass(frozen=True)
class Health:
    """One probe's verdict: `problem` says why vLLM cannot serve this gateway now (None: it can)."""

    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class StreamResult:
    finish_reason: str | None = None
    stop_reason: int | str | None = None
    events: int = 0


class VllmClient:
    def __init__(
        self,
        config: SvaraConfig,
        *,
        stop_token_ids: list[int],
        frame_xargs: dict[str, int | list[int]] | None = None,
    ) -> None:
        self.config = config
        self.base_url = config.vllm_url.rstrip("/")
        self.model = config.model
        self.stop_token_ids = stop_token_ids
        self.frame_xargs = frame_xargs  # vllm_xargs that switch the frame processor on, or None
        self.max_model_len = config.max_model_len
        self.retry_after_s = config.retry_after_s
        self._stall_timeout_s = config.stall_timeout_s
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=config.connect_timeout_s, sock_read=config.stall_timeout_s
        )
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # vLLM checks the key on /v1/* only; sent on every call, /health ignores it.
            auth = {"Authorization": f"Bearer {self.config.vllm_api_key}"} if self.config.vllm_api_key else {}
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=auth)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def health(self, timeout_s: float = 2.0) -> Health:
        """vLLM's /health (is the engine alive), then a keyed /v1/models: vLLM answers /health without
        checking the key, so only the second shows a VLLM_API_KEY that every generation would fail on."""
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        try:
            async with self._http().get(f"{self.base_url}/health", timeout=timeout) as response:
                if response.status != 200:
                    return Health(f"vLLM's /health answered HTTP {response.status}")
            async with self._http().get(f"{self.base_url}/v1/models", timeout=timeout) as response:
                if response.status in (401, 403):
                    return Health(
                        f"unauthorized: vLLM refused VLLM_API_KEY (HTTP {response.status}); "
                        "the gateway and vLLM must share one key"
                    )
                if response.status != 200:
                    return Health(f"vLLM's /v1/models answered HTTP {response.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Health(f"vLLM is not answering ({type(exc).__name__})")
        return Health()

    def max_tokens_for(self, prompt: str, prompt_tokens: int | None = None) -> int:
        """Room left in the context. A byte-level BPE never makes more tokens than UTF-8 bytes, so
        that is a safe upper bound on the prompt without a tokenizer in the gateway; a caller that
        knows a tighter bound (a cloning prompt is mostly one-token audio codes) passes it."""
        return self.max_model_len - (prompt_tokens if prompt_tokens is not None else len(prompt.encode("utf-8")))

    def payload(
        self, prompt: str, sampling: SamplingParams, prompt_tokens: int | None = None
    ) -> dict[str, object]:
        room = self.max_tokens_for(prompt, prompt_tokens)
        if room < SAMPLING_BOUNDS["max_tokens"][0]:
            raise SvaraBadRequest(
                f"the prompt (up to {self.max_model_len - room} tokens) leaves no room for speech within "
                f"VLLM_MAX_MODEL_LEN={self.max_model_len}: shorten the text"
                + (" or the reference audio" if prompt_tokens is not None else "")
            )
        max_tokens = min(sampling.max_tokens or room, room)
        body: dict[str, object] = {
            "model": self.model,
            "prompt": prompt,
            "stream": True,
            "max_tokens": max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "top_k": sampling.top_k,
            "repetition_penalty": sampling.repetition_penalty,
            "stop_token_ids": self.stop_token_ids,
            # The prompt already spells BOS and every special token; custom tokens must come back as text.
            "add_special_tokens": False,
            "skip_special_tokens": False,
        }
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if self.frame_xargs:
            body["vllm_xargs"] = self.frame_xargs  # every frame valid (tts_engine/svara/frame_processor.py)
        return body

    async def stream(
        self,
        prompt: str,
        sampling: SamplingParams,
        result: StreamResult | None = None,
        prompt_tokens: int | None = None,
    ) -> AsyncGenerator[str, None]:
        """Yield generated text pieces as they arrive."""
        result = result if result is not None else StreamResult()
        body = self.payload(prompt, sampling, prompt_tokens)
        url = f"{self.base_url}/v1/completions"
        try:
            response = await self._http().post(url, json=body)
        except aiohttp.ConnectionTimeoutError as exc:
            SVARA_UPSTREAM_ERRORS.labels(kind="unavailable").inc()
            raise SvaraUnavailable(
                "vLLM did not accept the connection in time", retry_after_s=self.retry_after_s
            ) from exc
        except TimeoutError as exc:  # connected, but no response headers: hung
            SVARA_UPSTREAM_ERRORS.labels(kind="stalled").inc()
            raise SvaraStalled(f"vLLM did not answer within {self._stall_timeout_s:.0f}s") from exc
        except aiohttp.ClientConnectionError as exc:  # refused, reset, DNS: vLLM down or restarting
            SVARA_UPSTREAM_ERRORS.labels(kind="unavailable").inc()
            raise SvaraUnavailable(
                f"vLLM is not reachable ({type(exc).__name__})", retry_after_s=self.retry_after_s
            ) from exc
        complete = False
        try:
            await self._check_status(response)
            async with contextlib.aclosing(self._events(response, result)) as events:
                async for text in events:
                    yield text
            complete = True
        finally:
            if complete:
                response.release()  # the connection goes back to the pool
            else:
                # Consumer gone or stream broken: closing (not releasing) drops the connection, and
                # vLLM aborts a generation whose client disconnected.
                response.close()

    async def _check_status(self, response: aiohttp.ClientResponse) -> None:
        if response.status == 200:
            return
        try:
            detail = (await response.text())[:300]
        except (aiohttp.ClientError, TimeoutError):
            detail = ""
        if response.status >= 500 or response.status == 429:
            SVARA_UPSTREAM_ERRORS.labels(kind="unavailable").inc()
            raise SvaraUnavailable(f"vLLM answered HTTP {response.status}", retry_after_s=self.retry_after_s)
        if response.status in (401, 403):  # the operator's mistake, not the client's: VLLM_API_KEY differs
            SVARA_UPSTREAM_ERRORS.labels(kind="unauthorized").inc()
            log.error("vLLM refused the gateway's key: VLLM_API_KEY differs between the gateway and vLLM")
            raise SvaraUnavailable("vLLM refused the gateway's credentials", retry_after_s=self.retry_after_s)
        SVARA_UPSTREAM_ERRORS.labels(kind="rejected").inc()
        raise SvaraBadRequest(f"vLLM rejected the request (HTTP {response.status}): {detail}")

    async def _events(
        self, response: aiohttp.ClientResponse, result: StreamResult
    ) -> AsyncGenerator[str, None]:
        done = False
        try:
            async for raw in response.content:
                line = raw.strip()
                if not line.startswith(b"data:"):
                    continue  # blank separators, comments, other SSE fields
                data = line[5:].strip()
                if data == b"[DONE]":
                    done = True
                    break
                text = self._parse(data, result)
                if text:
                    yield text
        except TimeoutError as exc:
            SVARA_UPSTREAM_ERRORS.labels(kind="stalled").inc()
            raise SvaraStalled(f"vLLM sent nothing for {self._stall_timeout_s:.0f}s") from exc
        except aiohttp.ClientError as exc:
            SVARA_UPSTREAM_ERRORS.labels(kind="mid_stream").inc()
            raise SvaraStreamFailed(f"vLLM stream broke ({type(exc).__name__})") from exc
        if not done:
            SVARA_UPSTREAM_ERRORS.labels(kind="mid_stream").inc()
            raise SvaraStreamFailed("vLLM stream ended without [DONE]")
        if result.finish_reason == "length":
            SVARA_UPSTREAM_ERRORS.labels(kind="length").inc()
            log.warning("svara generation hit max_tokens", extra={"fields": {"events": result.events}})

    @staticmethod
    def _parse(data: bytes, result: StreamResult) -> str:
        try:
            event = json.loads(data)
        except ValueError as exc:
            SVARA_UPSTREAM_ERRORS.labels(kind="mid_stream").inc()
            raise SvaraStreamFailed("vLLM sent an event that is not JSON") from exc
        if "error" in event or event.get("object") == "error":
            error = event.get("error", event)
            message = error.get("message", "unknown error") if isinstance(error, dict) else str(error)
            code = error.get("code") if isinstance(error, dict) else None
            if result.events == 0 and isinstance(code, int) and 400 <= code < 500:
                # vLLM validates some parameters only once the stream has begun (HTTP 200), then sends
                # the 4xx as the first event: still the request's fault, not a broken stream.
                SVARA_UPSTREAM_ERRORS.labels(kind="rejected").inc()
                raise SvaraBadRequest(f"vLLM rejected the request: {message[:200]}")
            SVARA_UPSTREAM_ERRORS.labels(kind="mid_stream").inc()
            raise SvaraStreamFailed(f"vLLM reported an error mid-stream: {message[:200]}")
        result.events += 1
        choices = event.get("choices") or []
        if not choices:
            return ""
        choice = choices[0]
        if choice.get("finish_reason") is not None:
            result.finish_reason = choice["finish_reason"]
            result.stop_reason = choice.get("stop_reason")
        return str(choice.get("text") or "")
