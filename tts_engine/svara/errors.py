"""Engine-level errors of the Svara backend. The gateway maps them onto `app.errors` (tts_engine
never imports app): unavailable -> 503 + Retry-After, stalled -> 504, failed mid-stream -> the
stream ends visibly."""

from __future__ import annotations


class SvaraError(Exception):
    """Base of every error the Svara backend raises."""


class SvaraUnavailable(SvaraError):
    """vLLM refused the connection, is restarting or answered 5xx before any token: retry later.
    Compatible with `app.errors.UpstreamUnavailable` (same meaning, carries `retry_after_s`)."""

    def __init__(self, message: str, *, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SvaraBadRequest(SvaraError):
    """vLLM rejected the request itself (4xx): retrying the same request will not help."""


class SvaraStreamFailed(SvaraError):
    """The token stream broke after it had started (connection lost, error event, bad payload)."""


class SvaraStalled(SvaraError):
    """No token arrived within the stall timeout (upstream hung)."""


class SnacLoadError(SvaraError):
    """The SNAC decoder model could not be loaded; the message says what to set."""
