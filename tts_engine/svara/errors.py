"""Errors of the Svara backend, each one of the engine error kinds of `tts_engine.base`, which the
gateway maps onto HTTP errors in one place (tts_engine never imports app)."""

from __future__ import annotations

from tts_engine.base import EngineBadRequest, EngineError, EngineStreamFailed, EngineTimeout, EngineUnavailable


class SvaraError(EngineError):
    """Base of every error the Svara backend raises."""


class SvaraUnavailable(SvaraError, EngineUnavailable):
    """vLLM refused the connection, is restarting or answered 5xx before any token: retry later."""


class SvaraBadRequest(SvaraError, EngineBadRequest):
    """vLLM rejected the request itself (4xx): retrying the same request will not help."""


class SvaraStreamFailed(SvaraError, EngineStreamFailed):
    """The token stream broke after it had started (connection lost, error event, bad payload)."""


class SvaraStalled(SvaraError, EngineTimeout):
    """No token arrived within the stall timeout (upstream hung)."""


class SnacLoadError(SvaraError, EngineUnavailable):
    """The SNAC decoder model could not be loaded; the message says what to set."""
