"""The error of a request option the worker cannot honour: diarization hints, keywords, redaction.

Light on purpose (no model imports), so that the gateway can validate the same options before it
queues a job or opens a stream, and say which field is wrong (`param` of the JSON error).
"""

from __future__ import annotations


class InvalidOption(ValueError):
    """A request option is malformed or over a limit; reported as a 422 naming `param`."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
