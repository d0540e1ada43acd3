"""The web playground: static files shipped in the package, served at `/` and `/playground/…`.

No build step and no CDN (the appliance may run offline): plain HTML, CSS and ES modules. The page
talks to the public API with the user's own key, so these routes need no key and no license.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).resolve().parent / "static"

# Everything from the appliance itself; audio played from blob: URLs (the synthesised file);
# microphone worklet from 'self'; WebSockets to the same host ('self' covers ws: and wss: there).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; connect-src 'self'; worker-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidate: an upgraded appliance serves its new page at once
}

router = APIRouter(include_in_schema=False)


class _PlaygroundFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(HEADERS)
        return response


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=HEADERS)


def install_playground(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/playground", _PlaygroundFiles(directory=STATIC), name="playground")
