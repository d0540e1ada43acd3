"""The worker's HTTP/WebSocket API (loopback only): health now, sessions and jobs on top."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from . import __version__
from .model import LoadedModel, load_model
from .settings import AsrSettings

log = logging.getLogger(__name__)


def create_app(settings: AsrSettings | None = None) -> FastAPI:
    settings = settings or AsrSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.model = None
        app.state.load_error = None

        async def load() -> None:
            try:
                # Loading blocks for seconds; the API answers "starting" meanwhile.
                app.state.model = await asyncio.to_thread(load_model, settings)
            except Exception as exc:
                log.exception("model failed to load")
                app.state.load_error = f"{type(exc).__name__}: {exc}"

        loader = asyncio.create_task(load())
        try:
            yield
        finally:
            loader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loader

    app = FastAPI(title="ASR worker", version=__version__, lifespan=lifespan)

    @app.get("/health")
    async def health() -> JSONResponse:
        loaded: LoadedModel | None = app.state.model
        if loaded is None:
            body = {"status": "starting" if app.state.load_error is None else "failed", "version": __version__}
            if app.state.load_error:
                body["error"] = app.state.load_error
            return JSONResponse(body, status_code=503)
        return JSONResponse(
            {
                "status": "ready",
                "version": __version__,
                "model": loaded.name,
                "device": loaded.device,
                "compute_type": loaded.compute_type,
            }
        )

    return app
