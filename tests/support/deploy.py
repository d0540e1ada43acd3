"""Helpers of the deployment tests: the real helm binary, the chart's value cases, lookups in rendered
manifests, and schema validation of them."""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from tests.support import REPO

TOOLS = REPO / ".tools"
CHART = REPO / "deploy" / "helm" / "speech-appliance"
CRD_SCHEMAS = REPO / "tests" / "data" / "crds"

# Values of the chart that the deployment tests render: the default, the split multi-replica file, and
# variations that change which manifests exist.
CASES = {
    "default": (),
    "multinode": ("-f", str(CHART / "values-multinode.yaml")),
    "no-keda": ("--set", "asrWorker.autoscaling.keda.enabled=false"),
    "cpu-external-redis": (
        "--set",
        "profile=cpu,vllm.enabled=false,redis.enabled=false",
        "--set",
        "redis.external.url=redis://redis:6379/0,redis.external.address=redis:6379",
        "--set",
        "asrWorker.autoscaling.keda.signal=pending,metrics.serviceMonitor.enabled=false",
    ),
    "fixed-replicas": (
        "--set",
        "gateway.autoscaling.enabled=false,asrWorker.autoscaling.enabled=false,asrWorker.replicas=3",
        "--set",
        "vllm.enabled=false,vllm.externalUrl=http://vllm-a:8000\\,http://vllm-b:8000",
        "--set",
        "redis.persistence.enabled=false,metrics.grafanaDashboard.enabled=false",
    ),
}


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"].removeprefix("speech-speech-appliance-"): d for d in docs if d["kind"] == kind}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(only)


def env(deployment: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(deployment)["env"]}


def tools() -> Path:
    """.tools (helm, kubectl, compose-spec schema), installed by scripts/install_k8s_tools.sh."""
    if not (TOOLS / "bin" / "helm").exists() or not (TOOLS / "compose-spec.json").exists():
        subprocess.run([str(REPO / "scripts" / "install_k8s_tools.sh")], check=True, timeout=600)
    return TOOLS


def helm(*args: str) -> str:
    out = subprocess.run(
        [str(tools() / "bin" / "helm"), *args], capture_output=True, text=True, timeout=120, check=False
    )
    if out.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout


def render(*args: str) -> list[dict[str, Any]]:
    """`helm template` of the chart with extra arguments, as a list of manifests."""
    text = helm("template", "speech", str(CHART), "--namespace", "speech", *args)
    return [doc for doc in yaml.safe_load_all(text) if doc]


@cache
def _crd_validators() -> dict[tuple[str, str], jsonschema.Draft7Validator]:
    validators = {}
    for path in CRD_SCHEMAS.glob("*.json"):
        spec = json.loads(path.read_text())
        validators[(spec["apiVersion"], spec["kind"])] = jsonschema.Draft7Validator(spec["schema"])
    return validators


def validate(doc: dict[str, Any], version: str) -> None:
    """Validate one manifest: built-in kinds against Kubernetes `version`'s strict schemas (unknown
    fields are errors), custom resources against the vendored schema of their CRD."""
    key = (doc["apiVersion"], doc["kind"])
    validator = _crd_validators().get(key)
    if validator is not None:
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, f"{key} {doc['metadata']['name']}: " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5]
        )
        return
    kubernetes_validate.validate(doc, version, strict=True)
