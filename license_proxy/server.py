"""The proxy's API for the gateway (loopback only)."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from . import __version__
from .settings import LicenseProxySettings

log = logging.getLogger(__name__)


def create_app(settings: LicenseProxySettings | None = None) -> FastAPI:
    settings = settings or LicenseProxySettings()
    app = FastAPI(title="License proxy", version=__version__)
    app.state.settings = settings
    if settings.license_mode == "disabled":
        log.warning("license checks are disabled: this appliance runs unlicensed")

    @app.get("/health")
    async def health() -> dict[str, object]:
        return {"status": "ready", "version": __version__, "mode": settings.license_mode}

    return app
