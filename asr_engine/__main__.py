"""`python -m asr_engine`: run the ASR worker (open streaming sessions finish on SIGTERM)."""

from __future__ import annotations

from common.logging import setup_logging
from common.serving import serve

from .server import create_app
from .settings import AsrSettings


def main() -> None:
    settings = AsrSettings()
    setup_logging("asr_worker", settings.log_level)
    serve(
        create_app(settings),
        settings,
        host=settings.asr_host,
        port=settings.asr_port,
    )


if __name__ == "__main__":
    main()
