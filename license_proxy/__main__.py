"""`python -m license_proxy`: run the license proxy."""

from __future__ import annotations

import uvicorn

from common.logging import setup_logging

from .server import create_app
from .settings import LicenseProxySettings


def main() -> None:
    settings = LicenseProxySettings()
    setup_logging("license_proxy", settings.log_level)
    uvicorn.run(
        create_app(settings), host=settings.license_proxy_host, port=settings.license_proxy_port, log_config=None
    )


if __name__ == "__main__":
    main()
