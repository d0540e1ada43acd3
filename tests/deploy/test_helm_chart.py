"""deploy/helm/speech-appliance rendered by the real helm binary, for the default values and the
split multi-replica values file; every manifest validated against a current Kubernetes release's
schemas (strict), custom resources (KEDA, Prometheus Operator) against their CRDs' schemas."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest

from common import asr_jobs
from tests.support.deploy import CASES, CHART, by_kind, container, env, helm, render, validate

K8S_VERSION = kubernetes_validate.latest_version()

def test_lint() -> None:
    helm("lint", "--strict", str(CHART))
    helm("lint", "--strict", str(CHART), "-f", str(CHART / "values-multinode.yaml"))


@pytest.mark.parametrize("case", CASES)
def test_every_manifest_validates(case: str) -> None:
    docs = render(*CASES[case])
    assert len(docs) >= 8
    for doc in docs:
        validate(doc, K8S_VERSION)


def test_roles_probes_and_secrets() -> None:
    docs = render()
    deployments = by_kind(docs, "Deployment")
    assert set(deployments) == {"gateway", "asr-worker", "vllm", "license-proxy"}
    for role, deployment in deployments.items():
        assert env(deployment)["APPLIANCE_ROLE"] == role  # one image, the role picks the program
    probes = {
        role: {p: container(d)[p]["httpGet"]["path"] for p in ("livenessProbe", "readinessProbe")}
        for role, d in deployments.items()
    }
    # The endpoints the programs serve (app/ops.py, asr_engine/server.py, vLLM, license proxy).
    assert probes["gateway"] == {"livenessProbe": "/health/live", "readinessProbe": "/health"}
    assert probes["asr-worker"] == {"livenessProbe": "/health/live", "readinessProbe": "/health"}
    assert probes["vllm"]["readinessProbe"] == "/health"
    assert probes["license-proxy"]["readinessProbe"] == "/health"
    assert env(deployments["license-proxy"])["LICENSE_KEY"]["secretKeyRef"]["key"] == "LICENSE_KEY"
    assert env(deployments["gateway"])["API_KEYS"]["secretKeyRef"]["key"] == "API_KEYS"
    gpu = container(deployments["vllm"])["resources"]["limits"]["nvidia.com/gpu"]
    assert gpu == 1
    worker_env = env(deployments["asr-worker"])
    assert worker_env["ASR_DISCOVERY"] == "registry" and "$(POD_IP)" in worker_env["ASR_ADVERTISE_URL"]
    assert env(deployments["gateway"])["TTS_LLM_BASE_URL"].startswith("dns+http://speech-speech-appliance-vllm-headless")
    assert set(by_kind(docs, "PodDisruptionBudget")) == {"gateway", "asr-worker", "vllm"}
    assert {"license-state", "models"} <= set(by_kind(docs, "PersistentVolumeClaim"))
    assert by_kind(docs, "Deployment")["license-proxy"]["spec"]["replicas"] == 1


def test_asr_workers_scale_on_the_job_queue() -> None:
    (scaled,) = by_kind(render(), "ScaledObject").values()
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis-streams"
    # The stream and group the workers really consume (common/asr_jobs.py).
    assert trigger["metadata"]["stream"] == asr_jobs.STREAM
    assert trigger["metadata"]["consumerGroup"] == asr_jobs.GROUP
    assert trigger["metadata"]["lagCount"] == "5"
    pending = render("--set", "asrWorker.autoscaling.keda.signal=pending")
    (trigger,) = next(iter(by_kind(pending, "ScaledObject").values()))["spec"]["triggers"]
    assert trigger["metadata"]["pendingEntriesCount"] == "5"
    # No KEDA: a plain HPA takes over, and no KEDA resource is rendered.
    plain = render("--set", "asrWorker.autoscaling.keda.enabled=false")
    assert not by_kind(plain, "ScaledObject") and "asr-worker" in by_kind(plain, "HorizontalPodAutoscaler")


def test_fixed_replicas_and_external_vllm() -> None:
    docs = render(*CASES["fixed-replicas"])
    assert not by_kind(docs, "HorizontalPodAutoscaler") and not by_kind(docs, "ScaledObject")
    deployments = by_kind(docs, "Deployment")
    assert deployments["asr-worker"]["spec"]["replicas"] == 3 and "vllm" not in deployments
    assert env(deployments["gateway"])["TTS_LLM_BASE_URL"] == "http://vllm-a:8000,http://vllm-b:8000"


def test_multinode_uses_external_redis_with_password() -> None:
    docs = render("-f", str(CHART / "values-multinode.yaml"))
    assert "redis" not in by_kind(docs, "StatefulSet") and not by_kind(docs, "Secret")
    gateway_env = env(by_kind(docs, "Deployment")["gateway"])
    assert gateway_env["REDIS_PASSWORD"]["secretKeyRef"] == {"name": "speech-secrets", "key": "REDIS_PASSWORD"}
    assert by_kind(docs, "TriggerAuthentication")
    assert by_kind(docs, "Deployment")["vllm"]["spec"]["replicas"] == 2


def test_an_external_redis_with_auth_needs_its_password_given() -> None:
    """A generated password could never be the external Redis's own: refuse to render without it."""
    external = (*CASES["cpu-external-redis"], "--set", "redis.auth=true")
    with pytest.raises(AssertionError, match="set secrets.redisPassword to its password"):
        render(*external)
    (secret,) = by_kind(render(*external, "--set", "secrets.redisPassword=theirs"), "Secret").values()
    assert secret["stringData"]["REDIS_PASSWORD"] == "theirs"


def test_every_value_is_documented() -> None:
    """Each value in values.yaml has a comment right above it, or sits inside a documented value."""
    undocumented = []
    documented_at: list[int] = []  # indents of documented ancestors
    previous_comment = False
    for line in (CHART / "values.yaml").read_text().splitlines():
        stripped = line.strip()
        if not stripped:
            previous_comment = False
            continue
        if stripped.startswith("#"):
            previous_comment = True
            continue
        match = re.match(r"^(\s*)([\w.-]+):", line)
        if match is None:
            continue  # list items
        indent = len(match[1])
        documented_at = [i for i in documented_at if i < indent]
        nested = line.rstrip().endswith(":")
        if previous_comment or documented_at:
            if previous_comment:
                documented_at.append(indent)
        elif not nested:
            undocumented.append(match[2])
        previous_comment = False
    assert not undocumented, undocumented


def test_the_validation_catches_mistakes() -> None:
    """The checks above can fail: an unknown field and a malformed custom resource are rejected."""
    docs = render()
    deployment = dict(by_kind(docs, "Deployment")["gateway"])
    deployment["spec"] = {**deployment["spec"], "replica": 2}  # typo of replicas
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment, K8S_VERSION)
    scaled = next(iter(by_kind(docs, "ScaledObject").values()))
    broken = {**scaled, "spec": {**scaled["spec"], "triggers": [{"metadata": {}}]}}  # no type
    with pytest.raises(AssertionError):
        validate(broken, K8S_VERSION)
    monitor = next(iter(by_kind(docs, "ServiceMonitor").values()))
    broken = {**monitor, "spec": {**monitor["spec"], "endpoints": "http"}}  # must be a list
    with pytest.raises(AssertionError):
        validate(broken, K8S_VERSION)
