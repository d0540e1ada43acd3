"""A small gateway app for the licensing tests: the real license client, middleware, error handlers and
health route, plus tiny routes at the licensed paths (the real TTS/ASR routes belong to other areas)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import Response

from app.clients.license import LicenseClient
from app.components import ComponentRegistry
from app.errors import install_error_handlers
from app.licensing import LicenseMiddleware
from app.middleware import RequestIdMiddleware
from app.routes import health
from app.settings import GatewaySettings

PCM_BYTES_PER_SECOND = 32_000  # 16 kHz mono PCM16

Speak = Callable[[str], bytes]  # text -> PCM16 audio
Transcribe = Callable[[bytes], str]  # PCM16 audio -> text


def _silence(text: str) -> bytes:
    return b"\0\0" * 160 * len(text)  # 10 ms per character


def _nothing(audio: bytes) -> str:
    return ""


def build_gateway(proxy_url: str, speak: Speak = _silence, transcribe: Transcribe = _nothing) -> FastAPI:
    settings = GatewaySettings(license_mode="online", retry_after_s=1)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = LicenseClient(
            proxy_url, mode="online", refresh_interval_s=0.2, timeout_s=2.0, outbox_max=1000
        )
        await client.start()
        registry = ComponentRegistry(probe_timeout_s=2.0, retry_after_s=1)
        registry.add("license", client.probe)
        await registry.refresh_all()
        app.state.settings, app.state.license, app.state.components = settings, client, registry
        prober = asyncio.create_task(registry.run(0.2))
        yield
        prober.cancel()
        await client.stop()

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(LicenseMiddleware)
    app.add_middleware(RequestIdMiddleware)
    install_error_handlers(app)
    app.include_router(health.router)

    @app.post("/v1/speak")
    async def speak_route(request: Request) -> Response:
        text = (await request.json())["text"]
        audio = speak(text)
        request.state.characters = len(text)
        request.state.audio_seconds = len(audio) / PCM_BYTES_PER_SECOND
        return Response(audio, media_type="audio/pcm")

    @app.post("/v1/listen")
    async def listen_route(request: Request) -> dict[str, str]:
        audio = await request.body()
        request.state.audio_seconds = len(audio) / PCM_BYTES_PER_SECOND
        return {"text": transcribe(audio)}

    @app.get("/v1/voices")
    async def voices() -> dict[str, list[str]]:
        return {"voices": ["joe"]}

    @app.get("/v1/models")
    async def models() -> dict[str, list[str]]:
        return {"models": ["tiny.en"]}

    @app.websocket("/v1/listen/stream")
    async def listen_stream(websocket: WebSocket) -> None:
        await websocket.accept()
        received = bytearray()
        while True:
            message = await websocket.receive()
            if message.get("bytes"):
                received += message["bytes"]
                websocket.state.audio_seconds = len(received) / PCM_BYTES_PER_SECOND
            elif message.get("text") and json.loads(message["text"]).get("type") == "close_stream":
                break
            elif message["type"] == "websocket.disconnect":
                return
        await websocket.send_json({"transcript": transcribe(bytes(received)), "is_last": True})
        await websocket.close()

    @app.websocket("/v1/speak/stream")
    async def speak_stream(websocket: WebSocket) -> None:
        await websocket.accept()
        text = (await websocket.receive_json())["text"]
        audio = speak(text)
        websocket.state.characters = len(text)
        websocket.state.audio_seconds = len(audio) / PCM_BYTES_PER_SECOND
        await websocket.send_bytes(audio)
        await websocket.close()

    return app
