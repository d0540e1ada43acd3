"""The gateway's Svara client: built from settings, engine errors mapped onto the one error shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import from_engine_error
from app.settings import GatewaySettings
from app.tts import create_svara_backend, svara_config
from tests.support.real_vllm import API_KEY, RealVllm
from tests.support.svara import seeded_snac_dir
from tts_engine.svara.errors import (
    SnacLoadError,
    SvaraBadRequest,
    SvaraStalled,
    SvaraStreamFailed,
    SvaraUnavailable,
)
from tts_engine.voices import load_svara_voices


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (SvaraUnavailable("down", retry_after_s=7), 503, "upstream_unavailable"),
        (SvaraStalled("hung"), 504, "upstream_timeout"),
        (SvaraBadRequest("temperature=5 is outside"), 422, "invalid_parameter"),
        (SvaraStreamFailed("broke"), 502, "upstream_stream_failed"),
        (SnacLoadError("SNAC_MODEL_PATH=/x lacks config.json"), 503, "upstream_unavailable"),
    ],
)
def test_engine_errors_map_to_distinct_gateway_errors(error: Exception, status: int, code: str) -> None:
    mapped = from_engine_error(error)  # type: ignore[arg-type]
    assert (mapped.status_code, mapped.code) == (status, code)
    assert mapped.body()["error"]["message"] == str(error)  # type: ignore[index]
    if isinstance(error, SvaraUnavailable):
        assert mapped.headers["Retry-After"] == "7"


async def test_backend_built_from_settings_sees_real_vllm(real_vllm: RealVllm) -> None:
    settings = GatewaySettings(
        tts_llm_base_url=real_vllm.url, vllm_api_key=API_KEY, snac_model_path=str(seeded_snac_dir()), snac_device="cpu"
    )
    backend = await create_svara_backend(svara_config(settings), load_svara_voices())
    try:
        assert backend.is_available()
        assert len(backend.voices()) == 38
        assert backend.engine.batching is False  # auto: off on CPU
        assert backend.client.frame_xargs == backend.template.frame_xargs()  # SVARA_FRAME_PROCESSOR on
    finally:
        await backend.close()
    off = await create_svara_backend(
        svara_config(settings.model_copy(update={"svara_frame_processor": False})), load_svara_voices()
    )
    try:
        assert off.client.frame_xargs is None
    finally:
        await off.close()


async def test_unusable_snac_path_is_a_clear_start_up_error(tmp_path: Path) -> None:
    settings = GatewaySettings(snac_model_path=str(tmp_path), snac_device="cpu")
    with pytest.raises(SnacLoadError, match="SNAC_MODEL_PATH"):
        await create_svara_backend(svara_config(settings), load_svara_voices())
