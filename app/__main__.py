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
        host=settings.gateway_host,
        port=settings.gateway_port,
        drain_timeout_s=settings.drain_timeout_s,
        header_timeout_s=settings.header_read_timeout_s,
        body_timeout_s=settings.body_read_timeout_s,
        send_timeout_s=settings.send_timeout_s,
        retry_after_s=settings.retry_after_s,
        ws_max_size=16 * 1024 * 1024,
    )


if __name__ == "__main__":
    main()
