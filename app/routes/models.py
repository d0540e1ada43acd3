"""OpenAI-compatible `GET /v1/models`: the model names this appliance answers to.

Clients (OpenAI SDK, Pipecat, LiveKit) pick a model name before they send anything; every name
listed here is accepted. For speech the voice picks the backend, so the TTS names are aliases of
the voice catalogue; the STT names all run the one loaded Whisper model (`served_by`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.licensing import licensed

router = APIRouter(tags=["models"])

TTS_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
STT_MODELS = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe")


def _model(model_id: str, kind: str, served_by: str | None) -> dict[str, object]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "speech-appliance",
            "kind": kind, "served_by": served_by}


@router.get("/v1/models")
@licensed()  # a catalogue: any valid license, whichever features it has
async def models(request: Request) -> dict[str, object]:
    state = request.app.state
    asr_model = state.components.get("asr").detail.get("model")
    tts: list[dict[str, object]] = [_model(name, "tts", "voices") for name in TTS_MODELS]
    if state.settings.svara_enabled:
        tts.append(_model(state.settings.vllm_served_model_name, "tts", "svara"))
    stt = [_model(name, "stt", asr_model) for name in STT_MODELS]
    return {"object": "list", "data": tts + stt}
