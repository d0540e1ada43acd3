"""The OpenAPI document says what the gateway really answers: the one error shape on every operation
(instead of FastAPI's own 422 model, which this gateway never sends), audio bodies for the TTS
routes, and the text formats of the transcription and metrics routes.

Done here, on the generated document, so routes stay HTTP-only and need no decorator noise.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .audio.encode import FORMATS

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": "string"},
            },
        }
    },
}
_ERRORS = {
    "400": "Malformed request",
    "401": "Missing or wrong API key (when keys are configured)",
    "402": "The license has expired",
    "403": "Not licensed for this feature",
    "404": "Unknown voice, request id or route",
    "405": "Method not allowed",
    "408": "The request body did not arrive in time",
    "413": "Body, text or audio over its limit",
    "415": "Unsupported media type or encoding",
    "422": "Invalid parameter",
    "429": "Rate limit or quota reached (see Retry-After)",
    "500": "Internal error (the request id is in X-Request-ID)",
    "503": "An engine is not ready or is busy: retry after Retry-After seconds",
    "504": "An engine did not answer in time",
}
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_AUDIO = {fmt.content_type: _BINARY for fmt in FORMATS.values()}
_TEXT = {"schema": {"type": "string"}}
# One Server-Sent Event (what schema checkers such as schemathesis hold each event to).
_SSE = {"schema": {"type": "object", "properties": {
    "event": {"type": "string"}, "data": {"type": "string"}, "id": {"type": "string"}}}}
# Success bodies FastAPI cannot see (routes return Response objects).
_SUCCESS: dict[tuple[str, str], dict[str, Any]] = {
    ("/v1/audio/speech", "post"): {"200": {"description": "Audio, or SSE events", "content": {
        **_AUDIO, "text/event-stream": _SSE}}},
    ("/v1/text-to-speech", "post"): {"200": {"description": "Audio", "content": _AUDIO}},
    ("/v1/speak", "post"): {"200": {"description": "Audio", "content": _AUDIO}},
    ("/v1/audio/transcriptions", "post"): {"200": {"description": "The transcript", "content": {
        "application/json": {"schema": {"type": "object"}}, "text/plain": _TEXT, "text/vtt": _TEXT}}},
    ("/v1/listen", "post"): {
        "200": {"description": "The transcript", "content": {"application/json": {"schema": {"type": "object"}}}},
        "202": {"description": "Queued (callback_url given)", "content": {
            "application/json": {"schema": {"type": "object"}}}},
    },
    ("/waves/v1/tts", "post"): {"200": {"description": "Audio", "content": _AUDIO}},
    ("/waves/v1/tts/live", "post"): {"200": {"description": "SSE events", "content": {"text/event-stream": _SSE}}},
    ("/waves/v1/stt/", "post"): {"200": {"description": "The transcript, or processing (webhook_url given)",
                                         "content": {"application/json": {"schema": {"type": "object"}}}}},
    ("/v1/text-to-speech/{voice}/stream/with-timestamps", "post"): {"200": {
        "description": "One JSON object per sentence", "content": {"application/x-ndjson": _TEXT}}},
    ("/metrics", "get"): {"200": {"description": "Prometheus exposition", "content": {"text/plain": _TEXT}}},
    ("/health", "get"): {
        "200": {"description": "Ready", "content": {"application/json": {"schema": {"type": "object"}}}},
        "503": {"description": "Not ready: the body names each component's state", "content": {
            "application/json": {"schema": {"type": "object"}}}},
    },
}


def _document(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.update(_SUCCESS.get((path, method), {}))
            for status, description in _ERRORS.items():
                if status not in responses:
                    responses[status] = {"description": description, "content": error}
            if path.startswith("/health"):  # health never needs a key and is never refused
                for status in ("401", "402", "403", "429"):
                    responses.pop(status, None)
    return doc


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
