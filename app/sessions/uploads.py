"""Reading audio uploads, raw body or multipart, before any work starts. Their byte cap
(MAX_UPLOAD_BYTES) is counted as the body streams by app.sessions.bodies; until the whole body is in,
it is kept in a spooled temporary file (on disk past 1 MiB, as multipart file parts are), so a body
refused half way has cost the gateway no more memory than that."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from app.errors import BadRequest, UnsupportedMedia

RAW_TYPES = ("application/octet-stream", "audio/", "video/webm", "video/mp4", "video/ogg")


@dataclass
class Upload:
    data: bytes
    fields: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[-1] if values else None


SPOOL_MEMORY_BYTES = 1024 * 1024  # what a body may hold in memory before it goes to a temporary file


async def read_upload(request: Request, *, file_fields: tuple[str, ...], allow_raw: bool) -> Upload:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        return await _read_multipart(request, file_fields)
    if allow_raw and (content_type == "" or content_type.startswith(RAW_TYPES)):
        return Upload(await _read_raw(request))
    accepted = "multipart/form-data" + (", application/octet-stream or audio/*" if allow_raw else "")
    raise UnsupportedMedia(f"content type {content_type!r} is not accepted here; send {accepted}")


async def _read_raw(request: Request) -> bytes:
    # Starlette's UploadFile (what multipart file parts are) writes off the event loop once on disk.
    spool = UploadFile(tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES))  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            await spool.write(chunk)
        await spool.seek(0)
        return await spool.read()
    finally:
        await spool.close()


async def _read_multipart(request: Request, file_fields: tuple[str, ...]) -> Upload:
    parser = MultiPartParser(request.headers, request.stream(), max_files=4, max_fields=32)
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
