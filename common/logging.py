"""JSON log lines on stdout; supervisord captures them into rotated files.

Log records never carry audio, text or transcripts: callers log metadata only (ids, sizes,
durations, codes). `LOG_CONTENT=true` is the operator's explicit opt-in for debugging content.

Nor do they carry credentials, whoever wrote them: every finished line (message, fields and
exception text alike, uvicorn's own handshake lines included) passes `redact()` before it is
written, so a key given as `?api_key=`, a bearer token, a Realtime key subprotocol or a password
in a URL never reaches a log file, valid or not.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from contextvars import ContextVar
from urllib.parse import urlsplit, urlunsplit

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

REDACTED = "[REDACTED]"
# Query parameters and header-like fields that carry a credential.
_SECRET_PARAMS = (
    r"api[_-]?key|key|token|access[_-]?token|id[_-]?token|refresh[_-]?token|auth|authorization|password|passwd"
    r"|secret|client[_-]?secret|signature|sig|jwt|session"
)
_SECRET_FIELDS = r"(?:proxy-)?authorization|x-api-key|xi-api-key|api[_-]?key|access[_-]?token|password|secret"
# A value ends at a separator, a quote, whitespace or a backslash (the escape of a quote in JSON).
_VALUE = r"[^&;#\s\"'\\,}]+"
_PATTERNS = (
    # ?api_key=…, &token=… (uvicorn's "WebSocket /path?api_key=…" line, URLs in messages)
    (re.compile(rf"(?i)([?&;](?:{_SECRET_PARAMS})=){_VALUE}"), rf"\g<1>{REDACTED}"),
    # Authorization: Bearer …, "x-api-key": "…", password=…
    (
        re.compile(
            rf"(?i)\b((?:{_SECRET_FIELDS})(?:\\?[\"'])?\s*[:=]\s*(?:\\?[\"'])?\s*(?:(?:bearer|token|basic)\s+)?)"
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


def redact(text: str) -> str:
    """`text` with every credential pattern above replaced by [REDACTED]."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


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
        return redact(json.dumps(entry, default=str))


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
