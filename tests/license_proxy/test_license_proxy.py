"""The license proxy as a real process against the reference license server: online validation,
the on-disk grace cache across restarts and outages, and offline signed license files."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from license_proxy.online import key_digest
from tests.support import free_port
from tests.support.license import LICENSE_KEY, LicenseProxy, LicenseServer, license_terms, run_server_cli

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LicenseServer]:
    srv = LicenseServer(tmp_path / "server")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def proxies() -> Iterator[list[LicenseProxy]]:
    started: list[LicenseProxy] = []
    yield started
    for proxy in started:
        proxy.stop()


def online_proxy(state: Path, server_url: str, started: list[LicenseProxy], **env: str) -> LicenseProxy:
    proxy = LicenseProxy(state, {"LICENSE_MODE": "online", "LICENSE_SERVER_URL": server_url, **env})
    proxy.start()
    started.append(proxy)
    return proxy


def write_cache(state: Path, validated_at: float) -> None:
    """A validation cache as an earlier run of the proxy would have left it."""
    path = state / "license" / "validation.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"key_sha256": key_digest(LICENSE_KEY), "validated_at": validated_at, "terms": license_terms()}
    path.write_text(json.dumps(body))


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused


def test_online_validation_logs_and_serves_terms(
    tmp_path: Path, server: LicenseServer, proxies: list
) -> None:
    proxy = online_proxy(tmp_path / "state", server.url, proxies)
    status = proxy.wait_status(lambda s: s["code"] == "ok")
    assert status["valid"] is True and status["source"] == "server"
    assert status["features"] == ["tts", "asr", "streaming"]
    assert status["quotas"] == {"audio_hours_per_day": 10, "concurrent_streams": 2}
    log = proxy.log()
    assert "License validated" in log and "License valid until 20" in log
    assert (tmp_path / "state" / "license" / "validation.json").exists()


def test_unknown_key_is_refused_with_the_servers_reason(
    tmp_path: Path, server: LicenseServer, proxies: list
) -> None:
    server.set_licenses({"another-key": license_terms()})
    proxy = online_proxy(tmp_path / "state", server.url, proxies)
    status = proxy.wait_status(lambda s: s["code"] != "not_validated")
    assert status["valid"] is False and status["code"] == "invalid_key"
    assert "unknown license key" in status["reason"]


def test_outage_with_two_hour_old_cache_serves_and_warns_across_restart(
    tmp_path: Path, proxies: list
) -> None:
    state = tmp_path / "state"
    validated_at = time.time() - 2 * 3600
    write_cache(state, validated_at)
    proxy = online_proxy(state, dead_url(), proxies)
    status = proxy.wait_status(lambda s: s["code"] == "cached")
    assert status["valid"] is True and status["source"] == "cache"
    assert status["validated_at"] == pytest.approx(validated_at)
    assert 21.9 * 3600 < status["grace_remaining_s"] <= 22 * 3600
    assert "grace remaining 22.0 h" in status["warning"] or "grace remaining 21.9 h" in status["warning"]
    assert "running on the cached validation" in proxy.log()

    proxy.kill()  # the grace carries on from the same validation: neither reset nor lost
    proxy.start()
    again = proxy.wait_status(lambda s: s["code"] == "cached")
    assert again["validated_at"] == pytest.approx(validated_at)
    assert again["grace_remaining_s"] <= status["grace_remaining_s"]


def test_cache_older_than_grace_refuses(tmp_path: Path, proxies: list) -> None:
    state = tmp_path / "state"
    write_cache(state, time.time() - 25 * 3600)
    proxy = online_proxy(state, dead_url(), proxies)
    status = proxy.wait_status(lambda s: s["code"] == "grace_expired")
    assert status["valid"] is False
    assert "older than the 24 h grace" in status["reason"]


def test_proxy_restart_during_outage_keeps_the_grace_running(
    tmp_path: Path, server: LicenseServer, proxies: list
) -> None:
    state = tmp_path / "state"
    grace_h = 15 / 3600  # 15 s, so the test can watch it run out
    proxy = online_proxy(state, server.url, proxies, LICENSE_GRACE_HOURS=str(grace_h))
    first = proxy.wait_status(lambda s: s["code"] == "ok")
    server.stop()
    proxy.kill()
    proxy.start()  # restarted during the outage
    cached = proxy.wait_status(lambda s: s["code"] == "cached")
    assert cached["validated_at"] == pytest.approx(first["validated_at"])  # from before the restart
    elapsed = time.time() - first["validated_at"]
    assert cached["grace_remaining_s"] <= 15 - elapsed + 0.5
    expired = proxy.wait_status(lambda s: s["code"] == "grace_expired", timeout_s=25)
    assert time.time() - first["validated_at"] >= 15  # not before the grace was up
    assert expired["valid"] is False

    server.start()  # the server is back: validated again, the cache is fresh
    proxy.wait_status(lambda s: s["code"] == "ok", timeout_s=15)


# --- offline mode --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("keys")
    run_server_cli("keygen", "--out", str(root / "vendor"))
    run_server_cli("keygen", "--out", str(root / "other"))
    return root / "vendor", root / "other"


def sign(key_dir: Path, out: Path, *extra: str) -> None:
    run_server_cli(
        "sign",
        "--key",
        str(key_dir / "signing_key.pem"),
        "--out",
        str(out),
        "--license-id",
        "OFF-1",
        "--features",
        "tts,asr",
        "--audio-hours-per-day",
        "3",
        *extra,
    )


def test_offline_files_valid_tampered_expired_wrong_key(
    tmp_path: Path, keys: tuple[Path, Path], proxies: list
) -> None:
    vendor, other = keys
    license_file = tmp_path / "license.json"
    sign(vendor, license_file)
    proxy = LicenseProxy(
        tmp_path / "state",
        {
            "LICENSE_MODE": "offline",
            "LICENSE_FILE": str(license_file),
            "LICENSE_PUBLIC_KEY": str(vendor / "public_key.pem"),
            "LICENSE_SERVER_URL": "http://127.0.0.1:9",  # must never be used offline
        },
    )
    proxy.start()
    proxies.append(proxy)

    valid = proxy.status()
    assert (valid["valid"], valid["code"], valid["source"]) == (True, "ok", "file")
    assert valid["features"] == ["tts", "asr"] and valid["quotas"] == {"audio_hours_per_day": 3}

    envelope = json.loads(license_file.read_text())
    envelope["payload"]["features"].append("streaming")  # an edit after signing
    license_file.write_text(json.dumps(envelope))
    tampered = proxy.status()
    assert (tampered["valid"], tampered["code"]) == (False, "tampered")
    assert "modified after it was signed" in tampered["reason"]

    envelope = json.loads(license_file.read_text())
    envelope["signature"] = base64.b64encode(b"\0" * 64).decode()
    license_file.write_text(json.dumps(envelope))
    assert proxy.status()["code"] == "tampered"

    sign(vendor, license_file, "--expires-at", str(time.time() - 60))
    expired = proxy.status()
    assert (expired["valid"], expired["code"]) == (False, "expired")
    assert "expired on" in expired["reason"]

    sign(other, license_file)
    wrong = proxy.status()
    assert (wrong["valid"], wrong["code"]) == (False, "wrong_key")
    assert "signed with a different key" in wrong["reason"]

    assert len({tampered["reason"], expired["reason"], wrong["reason"]}) == 3
    sign(vendor, license_file)
    assert proxy.status()["valid"] is True  # a good file again: serves again


def test_disabled_mode_says_unlicensed(tmp_path: Path, proxies: list) -> None:
    proxy = LicenseProxy(tmp_path / "state", {"LICENSE_MODE": "disabled"})
    proxy.start()
    proxies.append(proxy)
    status = proxy.status()
    assert (status["valid"], status["mode"], status["code"]) == (False, "disabled", "disabled")
    assert "unlicensed" in status["reason"]
    assert "license checks are disabled" in proxy.log()
