"""supervisord.conf loads with supervisor's own parser, uses only options supervisor reads, and
starts the programs the environment asks for, in DESIGN.md's order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from supervisor.options import ClientOptions, ServerOptions, UnhosedConfigParser

from tests.support import REPO

CONF = str(REPO / "supervisord.conf")
EXPECTED_PRIORITIES = {
    "redis": 10,
    "vllm": 100,
    "asr_worker": 150,
    "license_proxy": 160,
    "gateway": 200,
    "health_monitor": 300,
}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    values = {
        "APP_ROOT": str(REPO),
        "PYTHON": "/usr/bin/python3",
        "RUN_DIR": str(tmp_path / "run"),
        "LOG_DIR": str(tmp_path / "logs"),
        "STATE_DIR": str(tmp_path / "state"),
        "LOG_MAX_BYTES": "20MB",
        "LOG_BACKUPS": "5",
        "REDIS_PORT": "6379",
        "STOP_WAIT_S": "35",
        "START_REDIS": "true",
        "START_VLLM": "false",
    }
    for name in ("run", "logs", "state"):
        (tmp_path / name).mkdir()
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    yield values


def _load(tmp_path: Path) -> ServerOptions:
    options = ServerOptions()
    options.realize(args=["-c", CONF])
    return options


def _programs(options: ServerOptions) -> dict[str, object]:
    return {group.name: group.process_configs[0] for group in options.process_group_configs}


def test_loads_with_supervisors_parser_in_priority_order(env: dict[str, str], tmp_path: Path) -> None:
    programs = _programs(_load(tmp_path))
    assert {name: p.priority for name, p in programs.items()} == EXPECTED_PRIORITIES  # type: ignore[attr-defined]
    # logs rotate, under the configured directory
    for name, program in programs.items():
        assert program.stdout_logfile == f"{env['LOG_DIR']}/{name}.log"  # type: ignore[attr-defined]
        assert program.stdout_logfile_maxbytes == 20 * 1024 * 1024  # type: ignore[attr-defined]
        assert program.stdout_logfile_backups == 5  # type: ignore[attr-defined]
    # the processes that drain (common/drain.py) may use all of DRAIN_TIMEOUT_S before they are killed
    for name in ("gateway", "asr_worker", "license_proxy"):
        assert programs[name].stopwaitsecs == 35, name  # type: ignore[attr-defined]
    assert programs["gateway"].stopsignal == 15  # type: ignore[attr-defined]


@pytest.mark.parametrize(("start_redis", "start_vllm"), [("true", "false"), ("false", "true")])
def test_environment_decides_which_programs_start(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_redis: str, start_vllm: str
) -> None:
    monkeypatch.setenv("START_REDIS", start_redis)
    monkeypatch.setenv("START_VLLM", start_vllm)
    programs = _programs(_load(tmp_path))
    assert programs["redis"].autostart is (start_redis == "true")  # type: ignore[attr-defined]
    assert programs["vllm"].autostart is (start_vllm == "true")  # type: ignore[attr-defined]
    assert programs["gateway"].autostart is True  # type: ignore[attr-defined]


def test_has_an_xmlrpc_unix_socket(env: dict[str, str], tmp_path: Path) -> None:
    options = _load(tmp_path)
    [server] = options.server_configs
    assert server["family"] == 1  # AF_UNIX
    assert server["file"] == f"{env['RUN_DIR']}/supervisor.sock"
    assert "supervisor" in {name for name, _, _ in options.rpcinterface_factories}
    client = ClientOptions()
    client.realize(args=["-c", CONF])
    assert client.serverurl == f"unix://{env['RUN_DIR']}/supervisor.sock"


def test_internal_services_bind_to_loopback(env: dict[str, str], tmp_path: Path) -> None:
    programs = _programs(_load(tmp_path))
    # Loopback, password and memory bound: tests/stack/test_embedded_redis.py runs this script.
    assert programs["redis"].command == f"{REPO}/scripts/start_redis.sh"  # type: ignore[attr-defined]
    vllm_script = (REPO / "scripts" / "start_vllm.sh").read_text()
    # Loopback unless the split vllm role asks otherwise (VLLM_BIND_HOST; start.sh never sets it).
    assert '--host "${VLLM_BIND_HOST:-127.0.0.1}"' in vllm_script
    assert "VLLM_BIND_HOST" not in (REPO / "scripts" / "start.sh").read_text()


def test_every_option_in_the_file_is_one_supervisor_reads(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """supervisor silently ignores unknown keys; record which keys its parser actually reads."""
    read: set[tuple[str, str]] = set()
    original = UnhosedConfigParser.saneget

    def recording_saneget(self, section, option, *args, **kwargs):  # type: ignore[no-untyped-def]
        read.add((section, option))
        return original(self, section, option, *args, **kwargs)

    monkeypatch.setattr(UnhosedConfigParser, "saneget", recording_saneget)
    _load(tmp_path)
    ClientOptions().realize(args=["-c", CONF])

    parser = UnhosedConfigParser()
    parser.read(CONF)
    unknown = [
        f"[{section}] {option}"
        for section in parser.sections()
        for option in parser.options(section)
        if (section, option) not in read
    ]
    assert unknown == []
