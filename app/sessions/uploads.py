"""Reading audio uploads under the size limit, raw body or multipart, before any work starts."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from app.errors import BadRequest, PayloadTooLarge, UnsupportedMedia

RAW_TYPES = ("application/octet-stream", "audio/", "video/webm", "video/mp4", "video/ogg")


@dataclass
class Upload:
    data: bytes
    fields: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[-1] if values else None


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the upload is larger than this service's limit of {max_bytes} bytes (MAX_UPLOAD_BYTES)"
    )


async def _limited(request: Request, max_bytes: int) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > max_bytes:  # Content-Length can be absent (chunked) or wrong: count as well
            raise _too_large(max_bytes)
        yield chunk


async def read_upload(
    request: Request, *, file_fields: tuple[str, ...], max_bytes: int, allow_raw: bool
) -> Upload:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_bytes:
        raise _too_large(max_bytes)  # before reading a byte of it
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        return await _read_multipart(request, file_fields, max_bytes)
    if allow_raw and (content_type == "" or content_type.startswith(RAW_TYPES)):
        return Upload(b"".join([chunk async for chunk in _limited(request, max_bytes)]))
    accepted = "multipart/form-data" + (", application/octet-stream or audio/*" if allow_raw else "")
    raise UnsupportedMedia(f"content type {content_type!r} is not accepted here; send {accepted}")


async def _read_multipart(request: Request, file_fields: tuple[str, ...], max_bytes: int) -> Upload:
    parser = MultiPartParser(request.headers, _limited(request, max_bytes), max_files=4, max_fields=32)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise BadRequest(f"malformed multipart body: {exc.message}") from None
    try:
        upload = Upload(b"")
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key in file_fields and not upload.data:
                    upload.data = await value.read()
            else:
                upload.fields.setdefault(key, []).append(value)
        if not upload.data and not any(key in file_fields for key, _ in form.multi_items()):
            raise BadRequest(
                f"the multipart body has no file field {' or '.join(file_fields)!r}", param=file_fields[0]
            )
        return upload
    finally:
        await form.close()
