"""License proxy configuration."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LicenseProxySettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    license_proxy_host: str = Field("127.0.0.1", description="Address the proxy binds to (loopback).")
    license_proxy_port: int = Field(6699, description="Port of the proxy's API for the gateway.")
    license_mode: Literal["online", "offline", "disabled"] = Field(
        "disabled", description="online: validate LICENSE_KEY against LICENSE_SERVER_URL; offline: signed "
        "license file; disabled: explicit, unlicensed (health says so)."
    )
    log_level: str = Field("info", description="Log level.")
