"""A stand-in for vLLM at its HTTP boundary only: /v1/completions (streaming), /health, /v1/models.

It speaks vLLM's exact SSE format for streamed completions:
  data: {"id":"cmpl-…","object":"text_completion","created":…,"model":…,
         "choices":[{"index":0,"text":"…","logprobs":null,"finish_reason":null,"stop_reason":null}],
         "usage":null}
  … last chunk: "text":"" with "finish_reason":"stop","stop_reason":<stop id>
  data: [DONE]
The generated text is a script set by the test (token text made by encoding audio with SNAC), split
into events at random places. It runs in its own thread and event loop, like a separate server, and
can refuse (HTTP 503 "starting"), fail mid-stream (drop the connection), or stall.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field

from aiohttp import web

from tests.support import free_port


@dataclass
class Script:
    text: str = ""
    split_seed: int = 0
    max_piece: int = 40  # longest event text, in characters
    delay_s: float = 0.0  # pause between events
    fail_after_events: int | None = None  # then drop the connection without finishing
    error_event_after: int | None = None  # then send vLLM's error event and [DONE]
    stall_after_events: int | None = None  # then send nothing more
    send_done: bool = True  # False: end the body cleanly but without the final chunk and [DONE]
    finish_reason: str = "stop"
    stop_reason: int | None = 128258


@dataclass
class Record:
    payload: dict[str, object]
    events_sent: int = 0
    disconnected: bool = False
    completed: bool = False
    ended: threading.Event = field(default_factory=threading.Event)


class VllmStandin:
    def __init__(self, model: str = "svara") -> None:
        self.model = model
        self.port = free_port()
        self.script = Script()
        self.healthy = True
        self.requests: list[Record] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> VllmStandin:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("vLLM stand-in did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def _serve(self, ready: threading.Event) -> None:
        async def main() -> None:
            app = web.Application()
            app.router.add_get("/health", self._health)
            app.router.add_get("/v1/models", self._models)
            app.router.add_post("/v1/completions", self._completions)
            self._runner = web.AppRunner(app, handler_cancellation=True)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            ready.set()
            await self._stop.wait()
            await self._runner.cleanup()

        asyncio.run(main())

    # --- handlers --------------------------------------------------------------------------------
    async def _health(self, _: web.Request) -> web.Response:
        return web.Response(status=200 if self.healthy else 503)

    async def _models(self, _: web.Request) -> web.Response:
        card = {
            "id": self.model,
            "object": "model",
            "created": int(time.time()),
            "owned_by": "vllm",
            "root": self.model,
            "parent": None,
            "max_model_len": 4096,
        }
        return web.json_response({"object": "list", "data": [card]})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        payload = await request.json()
        record = Record(payload=payload)
        self.requests.append(record)
        if not self.healthy:
            record.ended.set()
            body = {
                "object": "error",
                "message": "model is loading",
                "type": "ServiceUnavailable",
                "code": 503,
            }
            return web.json_response(body, status=503)
        script = self.script
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await response.prepare(request)
        completion_id = f"cmpl-{uuid.uuid4().hex}"
        created = int(time.time())

        def event(text: str, finish: str | None = None, stop: int | None = None) -> bytes:
            choice = {
                "index": 0,
                "text": text,
                "logprobs": None,
                "finish_reason": finish,
                "stop_reason": stop,
            }
            chunk = {
                "id": completion_id,
                "object": "text_completion",
                "created": created,
                "model": payload.get("model", self.model),
                "choices": [choice],
                "usage": None,
            }
            return f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n".encode()

        try:
            for piece in split_randomly(script.text, script.split_seed, script.max_piece):
                if script.fail_after_events is not None and record.events_sent >= script.fail_after_events:
                    assert request.transport is not None
                    request.transport.abort()  # a crash: the chunked body never finishes
                    return response
                if script.error_event_after is not None and record.events_sent >= script.error_event_after:
                    error = {"error": {"message": "engine died", "type": "InternalServerError", "code": 500}}
                    await response.write(f"data: {json.dumps(error)}\n\ndata: [DONE]\n\n".encode())
                    return response
                if script.stall_after_events is not None and record.events_sent >= script.stall_after_events:
                    await asyncio.sleep(3600)
                await response.write(event(piece))
                record.events_sent += 1
                if script.delay_s:
                    await asyncio.sleep(script.delay_s)
            if script.send_done:
                await response.write(event("", script.finish_reason, script.stop_reason))
                await response.write(b"data: [DONE]\n\n")
                record.completed = True
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            record.disconnected = True  # the client went away: vLLM would abort the request here
            raise
        finally:
            record.ended.set()
        return response


def split_randomly(text: str, seed: int, max_piece: int) -> list[str]:
    """Cut text at random places, inside tokens too, as a detokenizer's stream may."""
    rng = random.Random(seed)
    pieces, start = [], 0
    while start < len(text):
        end = min(len(text), start + rng.randint(1, max_piece))
        pieces.append(text[start:end])
        start = end
    return pieces
