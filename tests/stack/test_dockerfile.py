"""The Dockerfile cannot be built here: check that everything it refers to exists and is sane."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from tests.support import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()


def _instructions() -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_every_copied_path_exists_and_is_not_dockerignored() -> None:
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines() if line.strip()}
    copies = [rest for keyword, rest in _instructions() if keyword == "COPY"]
    assert copies, "the Dockerfile copies nothing"
    for rest in copies:
        sources = [part for part in shlex.split(rest)[:-1] if not part.startswith("--")]
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: no such path in the repo"
            assert source.split("/")[0] not in ignored, f"COPY {source} is excluded by .dockerignore"


def test_entrypoint_and_scripts_exist_in_image_paths() -> None:
    app_root = re.search(r"APP_ROOT=(\S+)", DOCKERFILE)
    assert app_root, "APP_ROOT is not set"
    entry = next(rest for keyword, rest in _instructions() if keyword == "ENTRYPOINT")
    for path in re.findall(r"/opt/appliance/[\w./-]+", entry):
        relative = Path(path).relative_to(app_root.group(1))
        assert (REPO / relative).is_file(), f"ENTRYPOINT runs {path}, missing from the repo"
        assert (REPO / relative).stat().st_mode & 0o111, f"{relative} is not executable"
    # every script supervisord runs must be copied into the image
    conf = (REPO / "supervisord.conf").read_text()
    copied = " ".join(rest for keyword, rest in _instructions() if keyword == "COPY")
    for script in re.findall(r"%\(ENV_APP_ROOT\)s/(scripts/[\w.-]+)", conf):
        assert (REPO / script).is_file(), f"supervisord runs {script}, missing from the repo"
        assert script in copied, f"supervisord runs {script}, but the Dockerfile does not copy it"


def test_base_image_is_pinned_vllm_openai() -> None:
    base = next(rest for keyword, rest in _instructions() if keyword == "FROM")
    image, _, tag = base.partition(":")
    assert image == "vllm/vllm-openai"
    assert tag and tag != "latest", "the base image must be pinned to a tag"
    # the tag should match the vllm pin of the gpu extra
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'"vllm=={tag.lstrip("v")}"' in pyproject


def test_only_the_gateway_port_is_exposed_and_health_is_checked() -> None:
    exposed = [rest for keyword, rest in _instructions() if keyword == "EXPOSE"]
    assert exposed == ["8080"]
    healthcheck = next(rest for keyword, rest in _instructions() if keyword == "HEALTHCHECK")
    start_period = re.search(r"--start-period=(\d+)s", healthcheck)
    assert start_period and int(start_period.group(1)) >= 300, "model loading needs a long start period"
    assert "8080/health" in healthcheck
    volumes = next(rest for keyword, rest in _instructions() if keyword == "VOLUME")
    assert "/models" in volumes


def test_runs_as_a_non_root_user_that_owns_what_it_writes() -> None:
    instructions = _instructions()
    users = [i for i, (keyword, _) in enumerate(instructions) if keyword == "USER"]
    assert users, "the image runs as root"
    last = users[-1]
    uid, _, gid = instructions[last][1].partition(":")
    # Numeric, so that Kubernetes' runAsNonRoot can check it; nothing after it runs as root again.
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    assert [keyword for keyword, _ in instructions[last + 1 :]] == ["ENTRYPOINT"]
    # The places the programs write (DATA_DIR: state, logs, sockets; MODELS_DIR) belong to that user.
    setup = " ".join(rest for keyword, rest in instructions[:last] if keyword == "RUN")
    assert f"--uid {uid}" in setup
    chown = re.search(r"chown -R (\d+):(\d+) ([^&]+)", setup)
    assert chown and chown.group(1) == uid and {"/data", "/models"} <= set(chown.group(3).split())
    env = " ".join(rest for keyword, rest in instructions if keyword == "ENV")
    assert "DATA_DIR=/data" in env and "MODELS_DIR=/models" in env
    # Its caches go to its own home; no byte-code is written next to the (root-owned) code.
    assert "HOME=/home/appliance" in env and "PYTHONDONTWRITEBYTECODE=1" in env
    # The Helm chart runs the appliance's pods as the same user.
    values = yaml.safe_load((REPO / "deploy" / "helm" / "speech-appliance" / "values.yaml").read_text())
    assert values["securityContext"]["runAsUser"] == int(uid)
