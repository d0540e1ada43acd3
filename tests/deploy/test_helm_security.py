"""The chart locked down (README "Security"), read off the manifests the real helm renders: pods run
non-root on a read-only root filesystem with every capability dropped; NetworkPolicies let the outside
reach only the gateway and only the gateway reach the internals; every internal service requires its
credential from the Secret; Redis is bounded; pods drain before they are killed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis

from app.settings import GatewaySettings
from tests.support import free_port, wait_for_redis
from tests.support.deploy import CASES, by_kind, container, env, render

APPLIANCE = ("gateway", "asr-worker", "vllm", "license-proxy")


def workloads(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {**by_kind(docs, "Deployment"), **by_kind(docs, "StatefulSet")}


@pytest.mark.parametrize("case", CASES)
def test_every_pod_is_non_root_read_only_without_capabilities(case: str) -> None:
    for name, workload in workloads(render(*CASES[case])).items():
        pod = workload["spec"]["template"]["spec"]
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] > 0, name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for c in pod["containers"]:
            assert c["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
                "capabilities": {"drop": ["ALL"]},
            }, name
            mounts = {m["mountPath"] for m in c["volumeMounts"]}
            assert "/tmp" in mounts, name
            if name in APPLIANCE:  # caches (HOME), and where each role writes its data
                writes = {"license-proxy": "/data/state"}.get(name, "/models")
                assert {"/home/appliance", writes} <= mounts, name
        assert "hostNetwork" not in pod and "hostPID" not in pod, name


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _admitted(policies: list[dict[str, Any]], source: dict[str, str], target: dict[str, str], port: str) -> bool:
    """Whether NetworkPolicy semantics let a pod labelled `source` (in this namespace; {} = a client
    outside the release) reach `target` on `port`."""
    selecting = [p for p in policies if _selects(p["spec"]["podSelector"], target)]
    assert selecting, f"no policy selects {target}: ingress is not restricted"
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            ports = [str(p["port"]) for p in rule.get("ports", [])]
            peers = rule.get("from")
            if ports and port not in ports:
                continue
            if peers is None or any("podSelector" in peer and _selects(peer["podSelector"], source) for peer in peers):
                return True
    return False


def test_network_policies_expose_only_the_gateway_and_let_only_it_reach_the_internals() -> None:
    docs = render()
    pods = {name: w["spec"]["template"]["metadata"]["labels"] for name, w in workloads(docs).items()}
    ports = {name: container(w)["ports"][0]["name"] for name, w in workloads(docs).items()}
    policies = list(by_kind(docs, "NetworkPolicy").values())
    outside = {"app": "somebody-else"}
    reach = {
        (src, dst)
        for src, src_labels in {**pods, "outside": outside}.items()
        for dst, dst_labels in pods.items()
        if src != dst and _admitted(policies, src_labels, dst_labels, ports[dst])
    }
    assert reach == {
        ("outside", "gateway"),
        ("asr-worker", "gateway"),  # the gateway's port is public: anyone may call it
        ("vllm", "gateway"),
        ("license-proxy", "gateway"),
        ("redis", "gateway"),
        ("gateway", "asr-worker"),
        ("gateway", "vllm"),
        ("gateway", "license-proxy"),
        ("gateway", "redis"),
        ("asr-worker", "redis"),  # batch jobs come from Redis
    }
    # KEDA's operator, in its own namespace, reads the job queue.
    (redis_policy,) = [p for p in policies if _selects(p["spec"]["podSelector"], pods["redis"])
                       and p["metadata"]["name"].endswith("-redis")]
    (rule,) = redis_policy["spec"]["ingress"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}} in rule["from"]
    # Who may call the gateway can be narrowed (an ingress controller's namespace).
    narrowed = render("--set-json", 'networkPolicy.gatewayFrom=[{"namespaceSelector":{"matchLabels":{"x":"y"}}}]')
    policy = by_kind(narrowed, "NetworkPolicy")["gateway"]
    assert policy["spec"]["ingress"][0]["from"] == [{"namespaceSelector": {"matchLabels": {"x": "y"}}}]
    assert not by_kind(render("--set", "networkPolicy.enabled=false"), "NetworkPolicy")


def _secret_ref(value: Any) -> str:
    return str(value["secretKeyRef"]["key"])


def test_every_internal_service_requires_its_credential_from_the_secret() -> None:
    docs = render()
    (secret,) = by_kind(docs, "Secret").values()
    generated = {k: v for k, v in secret["stringData"].items() if k not in ("LICENSE_KEY", "API_KEYS")}
    assert set(generated) == {"REDIS_PASSWORD", "INTERNAL_TOKEN", "VLLM_API_KEY", "CALLBACK_SIGNING_SECRET"}
    assert all(len(v) >= 32 and v.isalnum() for v in generated.values())
    deployments = by_kind(docs, "Deployment")
    expected = {
        "gateway": {"REDIS_PASSWORD", "INTERNAL_TOKEN", "VLLM_API_KEY", "API_KEYS"},
        "asr-worker": {"REDIS_PASSWORD", "INTERNAL_TOKEN", "CALLBACK_SIGNING_SECRET"},
        "license-proxy": {"INTERNAL_TOKEN", "LICENSE_KEY"},
        "vllm": {"VLLM_API_KEY"},
    }
    for role, keys in expected.items():
        refs = {name: _secret_ref(v) for name, v in env(deployments[role]).items() if isinstance(v, dict)
                and "secretKeyRef" in v}
        assert {k: k for k in keys} == {k: v for k, v in refs.items() if k in keys}, role
        assert all(name == key for name, key in refs.items()), role  # no credential under another name
        for value in env(deployments[role]).values():
            assert not (isinstance(value, str) and any(secret_value in value for secret_value in generated.values()))
    # KEDA authenticates to the in-chart Redis with the same password.
    (auth,) = by_kind(docs, "TriggerAuthentication").values()
    assert auth["spec"]["secretTargetRef"][0]["key"] == "REDIS_PASSWORD"
    # Chosen values replace the generated ones.
    chosen = render("--set", "secrets.internalToken=chosen-token")
    assert next(iter(by_kind(chosen, "Secret").values()))["stringData"]["INTERNAL_TOKEN"] == "chosen-token"


def test_the_rendered_redis_command_starts_a_bounded_redis_that_wants_its_password(tmp_path: Path) -> None:
    """Runs the StatefulSet's own shell command with the local redis-server (the chart's image is not
    here): the password arrives on stdin, maxmemory and noeviction are set, and nothing is in argv."""
    (statefulset,) = by_kind(render(), "StatefulSet").values()
    redis_container = container(statefulset)
    assert redis_container["command"] == ["sh", "-c"]
    (script,) = redis_container["args"]
    assert _secret_ref(env(statefulset)["REDIS_PASSWORD"]) == "REDIS_PASSWORD"
    assert _secret_ref(env(statefulset)["REDISCLI_AUTH"]) == "REDIS_PASSWORD"  # for the readiness probe
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (scripts/install.sh installs it)")
    port = free_port()
    local = script.replace("--dir /data", f"--dir {tmp_path} --bind 127.0.0.1 --port {port}")
    password = "rendered-redis-password"
    process = subprocess.Popen(["sh", "-c", local], env={**os.environ, "REDIS_PASSWORD": password},
                               stdout=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port, password=password, decode_responses=True)

        wait_for_redis(client, "redis-server from the rendered command")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()
        assert client.config_get("maxmemory")["maxmemory"] == str(768 * 1024 * 1024)
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
        assert client.config_get("appendonly")["appendonly"] == "yes"
        assert password.encode() not in Path(f"/proc/{process.pid}/cmdline").read_bytes()
        probe = container(statefulset)["readinessProbe"]["exec"]["command"]
        ok = subprocess.run([*probe[:2], probe[2].replace("redis-cli", f"redis-cli -p {port}")],
                            env={**os.environ, "REDISCLI_AUTH": password}, check=False)
        refused = subprocess.run([*probe[:2], probe[2].replace("redis-cli", f"redis-cli -p {port}")],
                                 env={**os.environ, "REDISCLI_AUTH": "wrong"}, check=False, capture_output=True)
        assert ok.returncode == 0 and refused.returncode != 0
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize("role", ["gateway", "asr-worker"])
def test_pods_drain_before_they_are_killed(role: str) -> None:
    deployment = by_kind(render("--set", "preStopSeconds=7"), "Deployment")[role]
    pod = deployment["spec"]["template"]["spec"]
    pre_stop = container(deployment)["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop == ["sleep", "7"]
    drain = float(env(deployment)["DRAIN_TIMEOUT_S"])
    # The kubelet's SIGKILL comes after the pause, the whole drain, and time to shut down after it.
    assert pod["terminationGracePeriodSeconds"] >= 7 + drain + 10


def test_the_gateway_gets_its_request_limits_and_a_queued_audio_budget_under_redis_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The limits README "Security" lists reach the gateway's environment as settings it accepts; the
    queued-audio budget leaves Redis room for results and streams; the readiness probe asks for the
    capability chosen (any by default, so one engine down does not take the other out of service)."""
    key_id = "3f2a9c1b7d4e"
    docs = render("--set", "gateway.readinessCapability=asr", "--set-json",
                  f'gateway.apiKeyLimits={{"{key_id}": {{"max_concurrent": 4}}}}')
    gateway = by_kind(docs, "Deployment")["gateway"]
    for name, value in env(gateway).items():
        if isinstance(value, str):  # (secrets are references)
            monkeypatch.setenv(name, value)
    settings = GatewaySettings()  # read from that environment, as the pod would
    assert settings.key_max_concurrent == 32 and settings.api_key_limits[key_id].max_concurrent == 4
    (redis_set,) = by_kind(docs, "StatefulSet").values()
    maxmemory = int(re.search(r"--maxmemory (\d+)mb", container(redis_set)["args"][0]).group(1)) * 1024**2  # type: ignore[union-attr]
    assert 0 < settings.asr_queued_audio_max_bytes <= maxmemory // 2
    assert container(gateway)["readinessProbe"]["httpGet"]["path"] == "/health?capability=asr"
    default = by_kind(render(), "Deployment")["gateway"]
    assert container(default)["readinessProbe"]["httpGet"]["path"] == "/health"
    assert "API_KEY_LIMITS" not in env(default)
