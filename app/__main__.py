"""`python -m app`: run the gateway under uvicorn, with receipt deadlines and a graceful drain."""

from __future__ import annotations

from common.logging import setup_logging
from common.serving import serve

from .main import create_app
from .settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    setup_logging("gateway", settings.log_level)
    serve(
        create_app(settings),
        settings,
        host=settings.gateway_host,
        port=settings.gateway_port,
        retry_after_s=settings.retry_after_s,
        ws_max_size=16 * 1024 * 1024,
    )


if __name__ == "__main__":
    main()
