"""An external Redis with a password and TLS: the gateway connects through `rediss://` URLs alone."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import GatewaySettings
from tests.support import RedisServer, free_port

PASSWORD = "s3cret-redis-pass"


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "redis.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "redis.crt", directory / "redis.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    directory = tmp_path_factory.mktemp("tls-redis")
    cert, key = _self_signed(directory)
    port = free_port()
    tls = ("--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
           "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no", "--requirepass", PASSWORD)
    client = {"password": PASSWORD, "ssl": True, "ssl_ca_certs": str(cert)}
    with RedisServer(directory, *tls, port=port, client_options=client):
        yield port, cert


def _client(redis_url: str, **overrides: object) -> TestClient:
    settings = GatewaySettings(
        redis_url=redis_url, asr_port=free_port(), license_proxy_port=free_port(),
        health_probe_timeout_s=1.0, **overrides,  # type: ignore[arg-type]
    )
    return TestClient(create_app(settings))


def test_password_and_tls_from_the_url_alone(tls_redis: tuple[int, Path]) -> None:
    port, cert = tls_redis
    url = f"rediss://:{PASSWORD}@127.0.0.1:{port}/0?ssl_ca_certs={cert}"
    with _client(url, rate_limit_per_minute=1) as client:
        assert client.get("/health").json()["components"]["redis"]["state"] == "ready"
        # shared rate limits are counted in that Redis: the second request of the minute is refused
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/openapi.json").status_code == 429


@pytest.mark.parametrize("problem", ["wrong password", "no TLS"])
def test_wrong_credentials_or_plain_text_are_reported_not_hidden(tls_redis: tuple[int, Path], problem: str) -> None:
    port, cert = tls_redis
    url = (
        f"rediss://:nope@127.0.0.1:{port}/0?ssl_ca_certs={cert}"
        if problem == "wrong password"
        else f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    )
    with _client(url) as client:
        component = client.get("/health").json()["components"]["redis"]
        assert component["state"] != "ready"
        assert component["error"]
        assert client.get("/health/live").status_code == 200
