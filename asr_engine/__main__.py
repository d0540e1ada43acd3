"""`python -m asr_engine`: run the ASR worker."""

from __future__ import annotations

import uvicorn

from common.logging import setup_logging

from .server import create_app
from .settings import AsrSettings


def main() -> None:
    settings = AsrSettings()
    setup_logging("asr_worker", settings.log_level)
    uvicorn.run(create_app(settings), host=settings.asr_host, port=settings.asr_port, log_config=None)


if __name__ == "__main__":
    main()
