"""Every setting of every process is documented in .env.example (the operator's one reference)."""

from __future__ import annotations

import re

import pytest
from pydantic_settings import BaseSettings

from app.settings import GatewaySettings
from asr_engine.settings import AsrSettings
from health_monitor.settings import MonitorSettings
from license_proxy.settings import LicenseProxySettings
from tests.support import REPO


def _documented() -> set[str]:
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))


def _variables(settings: type[BaseSettings]) -> list[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    return [str(field.alias or f"{prefix}{name}").upper() for name, field in settings.model_fields.items()]


@pytest.mark.parametrize("settings", [GatewaySettings, AsrSettings, LicenseProxySettings, MonitorSettings])
def test_every_setting_is_in_env_example(settings: type[BaseSettings]) -> None:
    variables = _variables(settings)
    assert variables, "no settings read: the check would prove nothing"
    assert [v for v in variables if v not in _documented()] == []
