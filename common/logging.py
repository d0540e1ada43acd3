"""JSON log lines on stdout; supervisord captures them into rotated files.

Log records never carry audio, text or transcripts: callers log metadata only (ids, sizes,
durations, codes). `LOG_CONTENT=true` is the operator's explicit opt-in for debugging content.

Nor do they carry credentials, whoever wrote them: every string of a line (message, field values
and exception text alike, uvicorn's own handshake lines included) passes `redact()`, and a field
whose name says it holds a secret (`password`, `redis_password`, `internal_token`, ...) is written
as [REDACTED] whatever its type. So a key given as `?api_key=`, a bearer token, a Realtime key
subprotocol or a password in a URL never reaches a log file, valid or not, and the line stays JSON.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from urllib.parse import urlsplit, urlunsplit

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

REDACTED = "[REDACTED]"
# Query parameters and header-like fields that carry a credential.
_SECRET_PARAMS = (
    r"api[_-]?key|key|token|access[_-]?token|id[_-]?token|refresh[_-]?token|auth|authorization|password|passwd"
    r"|secret|client[_-]?secret|signature|sig|jwt|session"
)
_SECRET_FIELDS = r"(?:proxy-)?authorization|x-api-key|xi-api-key|api[_-]?key|token|password|passwd|secret"
# A field name may carry a prefix: REDIS_PASSWORD, internal_token, vllm_api_key, access-token.
_FIELD_NAME = rf"(?:[\w-]*[_-])?(?:{_SECRET_FIELDS})"
_SECRET_NAME = re.compile(rf"(?i){_FIELD_NAME}")
# A value ends at a separator, a quote, whitespace or a backslash (the escape of a quote in JSON).
_VALUE = r"[^&;#\s\"'\\,}]+"
_PATTERNS = (
    # ?api_key=…, &token=… (uvicorn's "WebSocket /path?api_key=…" line, URLs in messages)
    (re.compile(rf"(?i)([?&;](?:{_SECRET_PARAMS})=){_VALUE}"), rf"\g<1>{REDACTED}"),
    # Authorization: Bearer …, "x-api-key": "…", password=…
    (
        re.compile(
            rf"(?i)\b({_FIELD_NAME}(?:\\?[\"'])?\s*[:=]\s*(?:\\?[\"'])?\s*(?:(?:bearer|token|basic)\s+)?)"
            rf"{_VALUE}"
        ),
        rf"\g<1>{REDACTED}",
    ),
    # a bare "Bearer …" anywhere
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), rf"\g<1>{REDACTED}"),
    # the OpenAI Realtime browser form: Sec-WebSocket-Protocol: openai-insecure-api-key.<key>
    (re.compile(rf"(?i)(openai-insecure-api-key\.){_VALUE}"), rf"\g<1>{REDACTED}"),
    # user:password@ in a URL (redis://:password@host)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@\"'\\]*:)[^@\s/\"'\\]+@"), rf"\g<1>{REDACTED}@"),
)


# Every pattern above needs one of these words or an "@"; a line without any skips the patterns.
_MAY_HOLD_SECRET = re.compile(rf"(?i){_SECRET_PARAMS}|bearer|openai-insecure|@")


def redact(text: str) -> str:
    """`text` with every credential pattern above replaced by [REDACTED]."""
    if not _MAY_HOLD_SECRET.search(text):  # most lines: one cheap scan instead of five substitutions
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redacted(value: object) -> object:
    """A log field's value with its secrets removed: strings through `redact()`, a field named
    like a secret replaced whole, containers walked."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {
            key: REDACTED if _SECRET_NAME.fullmatch(str(key)) else _redacted(item) for key, item in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_redacted(item) for item in value]
    return value


def url_for_log(url: str) -> str:
    """A URL as logs may show it: scheme, host, port and path; no user info, query or fragment
    (a callback URL may carry its receiver's token in either)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    if ":" in host:
        host = f"[{host}]"
    return urlunsplit((parts.scheme, f"{host}{port}", parts.path, "", ""))


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(_redacted(entry), default=lambda value: redact(str(value)))


def setup_logging(service: str, level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log would print query strings; our own middleware logs requests instead.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class Throttle:
    """For a warning that can come in a flood (a misconfigured peer retrying): at most one log line
    per `interval_s`, which says how many times it happened since the last line."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._since_line = 0
        self._last_line: float | None = None

    def count(self) -> int | None:
        """Count one occurrence; how many to report when a line is due now, else None."""
        self._since_line += 1
        now = self._clock()
        if self._last_line is not None and now - self._last_line < self.interval_s:
            return None
        count, self._since_line, self._last_line = self._since_line, 0, now
        return count
