"""Everything the Svara backend is configured with, as one typed object.

The gateway builds it once from its settings (which hold the one set of defaults) and hands it down;
the layers below read it instead of passing each value on as a keyword argument. Importing this
module imports no torch: the gateway builds the config even where Svara is off.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DecoderOptions:
    fast_start: bool  # first audio after 2 frames instead of 3 (that frame is approximate)
    max_span: int  # after the first audio, decode steps double from 1 frame up to this size


@dataclass(frozen=True)
class SvaraConfig:
    vllm_url: str  # vLLM's OpenAI-compatible server
    vllm_api_key: str  # the key vLLM was started with (VLLM_API_KEY); empty: none
    model: str  # the name vLLM serves Svara under
    max_model_len: int  # vLLM's context length: bounds prompt + max_tokens
    connect_timeout_s: float
    stall_timeout_s: float
    health_interval_s: float  # how often vLLM is probed (/health, then the keyed /v1/models)
    retry_after_s: int
    template: str  # prompt template name
    templates_path: str | None  # None: the templates shipped in tts_engine/svara
    snac_model: str  # a directory with config.json + pytorch_model.bin, or a hub name
    snac_device: str  # auto, cpu, cuda or cuda:N
    snac_cpu_threads: int  # torch threads for decoding on CPU
    snac_batching: bool | None  # None: on for CUDA, off for CPU
    decoder: DecoderOptions
    frame_processor: bool  # ask vLLM's frame processor (tts_engine/svara/frame_processor.py) for valid frames
