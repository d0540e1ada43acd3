"""Clients that misbehave on purpose, over raw sockets (client libraries will not): huge request bodies
made as they are sent (the test itself never holds them), sent with a Content-Length or chunked, that
stop at the first byte of an answer; WebSocket clients that never read."""

from __future__ import annotations

import base64
import json
import os
import select
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

MB = 1_000_000
PIECE = 64 * 1024


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int  # body bytes the client got to send before the answer came

    def json(self) -> dict:  # type: ignore[type-arg]
        return json.loads(self.body)


def filler(total: int, byte: bytes = b"a") -> Iterator[bytes]:
    """`total` bytes of `byte`, a piece at a time."""
    piece = byte * PIECE
    for _ in range(total // PIECE):
        yield piece
    if total % PIECE:
        yield byte * (total % PIECE)


def json_body(field: str, total: int) -> tuple[Iterator[bytes], int]:
    """A JSON object whose `field` is a string that makes it `total` bytes long."""
    head, tail = f'{{"{field}": "'.encode(), b'"}'
    return iter([head, *filler(total - len(head) - len(tail)), tail]), total


def multipart_body(field: str, total: int, fields: dict[str, str] | None = None) -> tuple[Iterator[bytes], int, str]:
    """A multipart form with `fields` and one file part `field`, `total` bytes long; returns the parts,
    the length and the content type."""
    boundary = "attacker" + os.urandom(8).hex()
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in (fields or {}).items()
    ) + (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="a.wav"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    parts = iter([head, *filler(total - len(head) - len(tail)), tail])
    return parts, total, f"multipart/form-data; boundary={boundary}"


def body(shape: str, total: int) -> tuple[Iterator[bytes], int, str]:
    """A body `total` bytes long shaped as `shape`: "json:FIELD" (a JSON object with a huge string
    FIELD), "multipart:FIELD" (a form with a huge file part FIELD) or "raw" (octets); returns the parts,
    the length and the content type."""
    kind, _, field = shape.partition(":")
    if kind == "json":
        parts, length = json_body(field, total)
        return parts, length, "application/json"
    if kind == "multipart":
        return multipart_body(field, total, {"model": "whisper-1", "text": "Hello."})
    if kind == "raw":
        return filler(total), total, "application/octet-stream"
    raise ValueError(f"unknown body shape {shape!r}")


def post(
    port: int, path: str, parts: Iterable[bytes], *, length: int | None, content_type: str,
    headers: dict[str, str] | None = None, timeout_s: float = 120,
) -> Answer:
    """POST the body as it is made: with `length` as Content-Length, or chunked when None. Sending
    stops at the first byte of an answer (or when the server stops reading); the answer is read."""
    head = [f"POST {path} HTTP/1.1", "Host: attacker", f"Content-Type: {content_type}"]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    head.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            for part in parts:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server has answered (or closed): stop sending
                sock.sendall(part if length is not None else b"%x\r\n%s\r\n" % (len(part), part))
                sent += len(part)
            else:
                if length is None:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        return _read_answer(sock, sent)


def _read_answer(sock: socket.socket, sent: int) -> Answer:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed without an answer after {sent} bytes: {data[:200]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    size = int(headers.get("content-length", "0"))
    while len(body) < size:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Answer(status, headers, body[:size], sent)


# --- WebSocket, by hand ---------------------------------------------------------------------------


def not_reading(port: int, request: bytes, *, receive_buffer: int = 4096) -> socket.socket:
    """A client that sends `request` and then reads nothing (a small receive buffer, so the server's
    fills soon)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", port))
    sock.sendall(request)
    return sock


def ws_handshake(path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: attacker\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def ws_open(port: int, path: str) -> socket.socket:
    """A WebSocket handshake by a client that reads little; returns the socket after the 101."""
    sock = not_reading(port, ws_handshake(path))
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(1)  # byte by byte: nothing after the handshake is read here
    if not answer.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(answer.decode("latin-1"))
    return sock


def ws_text(sock: socket.socket, text: str) -> None:
    """Send one masked text frame."""
    payload, mask = text.encode(), os.urandom(4)
    size = len(payload)
    header = bytes([0x81]) + (
        bytes([0x80 | size]) if size < 126
        else bytes([0x80 | 126]) + size.to_bytes(2, "big") if size < 65536
        else bytes([0x80 | 127]) + size.to_bytes(8, "big")
    )
    sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def ws_frames(stream: bytes) -> Iterator[tuple[int, bytes]]:
    """(opcode, payload) of the server's (unmasked) frames in `stream`, as far as they are whole."""
    pos = 0
    while pos + 2 <= len(stream):
        opcode, size, pos = stream[pos] & 0x0F, stream[pos + 1] & 0x7F, pos + 2
        if size >= 126:
            width = 2 if size == 126 else 8
            size, pos = int.from_bytes(stream[pos : pos + width], "big"), pos + width
        if pos + size > len(stream):
            return
        yield opcode, stream[pos : pos + size]
        pos += size


def ws_close_code(stream: bytes) -> int | None:
    """The code of the close frame among the frames of `stream` (after the handshake's answer, if there)."""
    if stream.startswith(b"HTTP/"):
        stream = stream.partition(b"\r\n\r\n")[2]
    for opcode, payload in ws_frames(stream):
        if opcode == 0x8:
            return int.from_bytes(payload[:2], "big")
    return None
