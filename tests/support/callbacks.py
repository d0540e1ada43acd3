"""A real HTTP server that receives result callbacks, for the tests of callback_url."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class Receiver:
    """A real HTTP server on `host` (port: free unless given) that records every POST, headers and body.
    It answers the first `fail_first` with 500 (to exercise the retry), the rest with 204."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, fail_first: int = 1) -> None:
        self.host = host
        self.fail_first = fail_first
        self.posts: list[tuple[dict[str, str], bytes]] = []  # headers (lower-case names), body
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                with lock:
                    receiver.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    failed = len(receiver.posts) <= receiver.fail_first
                self.send_response(500 if failed else 204)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_port
        self.url = f"http://{host}:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def attempts(self) -> int:
        return len(self.posts)

    @property
    def received(self) -> list[Any]:
        """The JSON bodies of the POSTs it accepted."""
        return [json.loads(body) for _, body in self.posts[self.fail_first :]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A callback receiver on loopback that fails its first POST."""
    with Receiver() as server:
        yield server
