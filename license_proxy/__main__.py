"""`python -m license_proxy`: run the license proxy."""

from __future__ import annotations

from common.logging import setup_logging
from common.serving import serve

from .server import HEALTH_PATHS, create_app
from .settings import LicenseProxySettings


def main() -> None:
    settings = LicenseProxySettings()
    setup_logging("license_proxy", settings.log_level)
    serve(
        create_app(settings),
        settings,
        host=settings.license_proxy_host,
        port=settings.license_proxy_port,
        readiness_paths=(),  # /health is its liveness too (one endpoint): it stays 200 while calls finish
        open_paths=HEALTH_PATHS,
    )


if __name__ == "__main__":
    main()
