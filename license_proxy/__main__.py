"""`python -m license_proxy`: run the license proxy."""

from __future__ import annotations

from common.logging import setup_logging
from common.serving import serve

from .server import create_app
from .settings import LicenseProxySettings


def main() -> None:
    settings = LicenseProxySettings()
    setup_logging("license_proxy", settings.log_level)
    serve(
        create_app(settings),
        host=settings.license_proxy_host,
        port=settings.license_proxy_port,
        drain_timeout_s=settings.drain_timeout_s,
        header_timeout_s=settings.header_read_timeout_s,
        body_timeout_s=settings.body_read_timeout_s,
        # /health is its liveness too (one endpoint): it stays 200 while in-flight calls finish.
        readiness_paths=(),
        open_paths=("/health",),
    )


if __name__ == "__main__":
    main()
