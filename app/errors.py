"""One error hierarchy for the gateway, mapped to one JSON shape in one handler.

Shape (OpenAI-compatible so SDKs surface it): {"error": {"message", "type", "param", "code"}}.
Over a WebSocket the same body goes in common.ws_errors' error frame, closed with its table's code.
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from common import ws_errors
from common.asr_stream import ProtocolError
from common.ws_errors import error_body
from tts_engine.base import EngineBadRequest, EngineError, EngineStreamFailed, EngineTimeout, EngineUnavailable

log = logging.getLogger(__name__)


class ApplianceError(Exception):
    status_code = 500
    code = "internal_error"
    error_type = "server_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, object]:
        return error_body(self.message, code=self.code, error_type=self.error_type, param=self.param, **self.extra)


class BadRequest(ApplianceError):
    status_code = 400
    code = "bad_request"
    error_type = "invalid_request_error"


class InvalidParameter(ApplianceError):
    status_code = 422
    code = "invalid_parameter"
    error_type = "invalid_request_error"


class NotFound(ApplianceError):
    status_code = 404
    code = "not_found"
    error_type = "invalid_request_error"


class RequestTimeout(ApplianceError):
    status_code = 408
    code = "request_timeout"
    error_type = "invalid_request_error"


class PayloadTooLarge(ApplianceError):
    status_code = 413
    code = "payload_too_large"
    error_type = "invalid_request_error"


class UnsupportedMedia(ApplianceError):
    status_code = 415
    code = "unsupported_media"
    error_type = "invalid_request_error"


class Unauthorized(ApplianceError):
    status_code = 401
    code = "unauthorized"
    error_type = "authentication_error"


class NotLicensed(ApplianceError):
    status_code = 403
    code = "not_licensed"
    error_type = "license_error"


class LicenseExpired(NotLicensed):
    """The license ran out (or its offline grace did): renewing it fixes this."""

    status_code = 402
    code = "license_expired"


class OverQuota(ApplianceError):
    status_code = 429
    code = "over_quota"
    error_type = "rate_limit_error"


class UpstreamUnavailable(ApplianceError):
    """An engine is not ready (starting, restarting, down): try again shortly."""

    status_code = 503
    code = "upstream_unavailable"
    error_type = "server_error"

    def __init__(self, message: str, *, retry_after_s: int = 5, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.headers.setdefault("Retry-After", str(retry_after_s))


class UpstreamTimeout(ApplianceError):
    status_code = 504
    code = "upstream_timeout"
    error_type = "server_error"


class UpstreamStreamFailed(ApplianceError):
    """The engine failed after the response had started."""

    status_code = 502
    code = "upstream_stream_failed"
    error_type = "server_error"


def from_engine_error(exc: EngineError) -> ApplianceError:
    """The one mapping of engine error kinds (tts_engine.base) onto the gateway's errors."""
    if isinstance(exc, EngineUnavailable):
        return UpstreamUnavailable(str(exc), retry_after_s=exc.retry_after_s)
    if isinstance(exc, EngineTimeout):
        return UpstreamTimeout(str(exc))
    if isinstance(exc, EngineBadRequest):
        return InvalidParameter(str(exc), param=exc.param)
    if isinstance(exc, EngineStreamFailed):
        return UpstreamStreamFailed(str(exc))
    return ApplianceError(f"the engine failed: {type(exc).__name__}")


def from_protocol(exc: ProtocolError) -> ApplianceError:
    """A violation of the worker stream contract (common.asr_stream), as the gateway error of the same
    status (clients see the gateway's codes, not the worker's)."""
    kinds: dict[int, type[ApplianceError]] = {400: BadRequest, 408: RequestTimeout, 422: InvalidParameter}
    return kinds.get(exc.status, ApplianceError)(exc.message, param=exc.param)


def as_appliance_error(exc: BaseException, fallback: ApplianceError | None = None) -> ApplianceError:
    """Any failure as the error the client is told, HTTP or WebSocket. A failure of no known kind
    is logged with its traceback and becomes `fallback` (a 500 by default)."""
    if isinstance(exc, ApplianceError):
        return exc
    if isinstance(exc, EngineError):
        return from_engine_error(exc)
    log.error("unexpected failure", exc_info=exc)
    return fallback or ApplianceError("internal error; the request id is in the X-Request-ID header")


def error_response(exc: ApplianceError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)


async def send_ws_error(websocket: WebSocket, exc: BaseException) -> None:
    """Fail an accepted WebSocket session: the error frame, then the close code of its kind."""
    error = as_appliance_error(exc)
    await ws_errors.send_error(websocket, error.body(), error.status_code)


async def refuse(exc: ApplianceError, scope: Scope, receive: Receive, send: Send) -> None:
    """Refuse a request before its route runs (middleware). HTTP and WebSocket handshakes get the
    JSON error with its status (a denial response, where the server supports it: uvicorn does);
    elsewhere the socket is accepted, sent the error frame and closed with its code."""
    if scope["type"] == "http" or "websocket.http.response" in scope.get("extensions", {}):
        await error_response(exc)(scope, receive, send)
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": json.dumps({"type": "error", **exc.body()})})
    await send({"type": "websocket.close", "code": ws_errors.close_code(exc.status_code), "reason": exc.code})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApplianceError)
    async def _appliance_error(_: Request, exc: ApplianceError) -> JSONResponse:
        if exc.status_code >= 500:
            log.warning("request failed", extra={"fields": {"code": exc.code, "status": exc.status_code}})
        return error_response(exc)

    @app.exception_handler(EngineError)
    async def _engine_error(_: Request, exc: EngineError) -> JSONResponse:
        return await _appliance_error(_, as_appliance_error(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
        message = first.get("msg", "invalid request")
        param = ".".join(loc) or None
        text = f"{param}: {message}" if param else str(message)
        return error_response(InvalidParameter(text, param=param))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        mapped: ApplianceError
        if exc.status_code == 404:
            mapped = NotFound("no such route")
        elif exc.status_code == 405:
            mapped = BadRequest("method not allowed on this route")
            mapped.status_code = 405
        elif exc.status_code == 413:  # a body over its cap while it was read (app.sessions.bodies)
            mapped = PayloadTooLarge(str(exc.detail))
        else:
            mapped = ApplianceError(str(exc.detail))
            mapped.status_code = exc.status_code
        return error_response(mapped)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return error_response(as_appliance_error(exc))
