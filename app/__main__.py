"""`python -m app`: run the gateway under uvicorn."""

from __future__ import annotations

import uvicorn

from common.logging import setup_logging

from .main import create_app
from .settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    setup_logging("gateway", settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,
        timeout_graceful_shutdown=int(settings.drain_timeout_s),
        ws_max_size=16 * 1024 * 1024,
    )


if __name__ == "__main__":
    main()
