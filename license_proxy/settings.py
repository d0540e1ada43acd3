"""License proxy configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from common.serving import ServingSettings

Mode = Literal["online", "offline", "disabled"]


class LicenseProxySettings(ServingSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    license_proxy_host: str = Field("127.0.0.1", description="Address the proxy binds to (loopback).")
    license_proxy_port: int = Field(6699, description="Port of the proxy's API for the gateway.")
    profile: Literal["cpu", "gpu"] = Field("cpu", description="Deployment profile; picks the default mode.")
    license_mode: Mode | None = Field(
        None,
        description="online: validate LICENSE_KEY against LICENSE_SERVER_URL; offline: signed license file; "
        "disabled: explicit, unlicensed (health says so). Unset: online in the gpu profile, disabled in cpu.",
    )
    log_level: str = Field("info", description="Log level.")
    internal_token: str = Field(
        "", description="Shared token the gateway must present (Authorization: Bearer) on /v1/*; empty: not "
        "checked (a warning at start-up)."
    )
    state_dir: Path = Field(Path("var/state"), description="Volume for the validation cache and usage spool.")

    # --- online mode ---------------------------------------------------------------------------
    license_key: str = Field("", description="The customer's license key (online mode).")
    license_server_url: str = Field("", description="Base URL of the license server (online mode).")
    license_grace_hours: float = Field(
        24.0, description="How long the last good validation is honoured while the server is unreachable."
    )
    license_check_interval_s: float = Field(3600.0, description="Seconds between two successful validations.")
    license_retry_min_s: float = Field(5.0, description="First retry delay after a failed validation.")
    license_retry_max_s: float = Field(300.0, description="Longest retry delay (exponential backoff cap).")
    license_http_timeout_s: float = Field(10.0, description="Timeout of one call to the license server.")

    # --- offline mode --------------------------------------------------------------------------
    license_file: Path | None = Field(None, description="Ed25519-signed license file (offline mode).")
    license_public_key: str = Field(
        "", description="Public key that signs license files: a PEM file path or the PEM text itself."
    )

    # --- usage metering ------------------------------------------------------------------------
    usage_report_interval_s: float = Field(30.0, description="Seconds between two usage reports.")
    usage_batch_size: int = Field(500, description="Most usage records in one report batch.")
    usage_spool_max_records: int = Field(
        200_000, description="Bound of the durable usage spool; new records are refused when it is full."
    )
    usage_spool_warn_ratio: float = Field(0.8, description="Warn when the spool is this full.")

    @property
    def mode(self) -> Mode:
        if self.license_mode is not None:
            return self.license_mode
        return "online" if self.profile == "gpu" else "disabled"
