"""The license terms, as the license server grants them (the gateway-facing API is common.license_api)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Terms(BaseModel):
    """What a license grants. Online: the server's answer; offline: the signed file's payload."""

    model_config = ConfigDict(extra="ignore")

    license_id: str
    customer: str = ""
    expires_at: float = Field(description="Unix time the license ends.")
    features: list[str] = Field(default_factory=list)
    quotas: dict[str, float] = Field(default_factory=dict)
