"""Loading SNAC and making its decoder deterministic per position.

SNAC's NoiseBlock adds `randn` noise at every upsampling stage, so two decodes of the same codes
differ and a chunked decode cannot match a whole one. We replace that noise with a counter-based
Gaussian that is a function of (request seed, stage, absolute position at that stage): the same
distribution, but a chunk that starts at frame f draws exactly the noise the whole decode draws there.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import SnacLoadError
from . import SAMPLE_RATE

# The published 24 kHz configuration (hubertsiuzdak/snac_24khz); see DESIGN.md.
SNAC_24KHZ_CONFIG: dict[str, object] = {
    "sampling_rate": SAMPLE_RATE,
    "encoder_dim": 48,
    "encoder_rates": [2, 4, 8, 8],
    "decoder_dim": 1024,
    "decoder_rates": [8, 8, 4, 2],
    "attn_window_size": None,
    "codebook_size": 4096,
    "codebook_dim": 8,
    "vq_strides": [4, 2, 1],
    "noise": True,
    "depthwise": True,
}

_MASK = 0xFFFFFFFF


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 integer hash on int64 tensors holding values in [0, 2**32)."""
    x = x & _MASK
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _MASK
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _MASK
    return x ^ (x >> 16)


def positional_normal(seeds: torch.Tensor, stage: int, positions: torch.Tensor) -> torch.Tensor:
    """Standard normal noise, one value per (seed, stage, position). seeds: (B,), positions: (B, T)."""
    base = _hash32(seeds.to(torch.int64) * 0x9E3779B9 + stage * 0x85EBCA6B + 1).unsqueeze(1)
    h1 = _hash32(_hash32(positions * 2) + base)
    h2 = _hash32(_hash32(positions * 2 + 1) + base)
    u1 = (h1.to(torch.float64) + 0.5) / 2.0**32
    u2 = h2.to(torch.float64) / 2.0**32
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * math.pi * u2)


@dataclass
class NoiseContext:
    """What the noise blocks need to know about the batch being decoded (set before each call)."""

    seeds: torch.Tensor  # (B,) int64, one per stream
    first_frames: torch.Tensor  # (B,) int64, absolute frame index of each item's first code frame


class PositionalNoiseBlock(nn.Module):
    """Drop-in for snac.layers.NoiseBlock (keeps its weights) with position-keyed noise."""

    def __init__(self, original: Any, stage: int, steps_per_frame: int, context: NoiseContext) -> None:
        super().__init__()
        self.linear = original.linear
        self.stage = stage
        self.steps_per_frame = steps_per_frame
        self.context = context

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, length = x.shape
        ctx = self.context
        start = ctx.first_frames.to(x.device) * self.steps_per_frame
        positions = start.unsqueeze(1) + torch.arange(length, device=x.device, dtype=torch.int64)
        noise = positional_normal(ctx.seeds.to(x.device), self.stage, positions)
        return x + noise.to(x.dtype).unsqueeze(1) * self.linear(x)


def make_noise_positional(model: Any) -> NoiseContext:
    """Swap every NoiseBlock of `model.decoder` for a PositionalNoiseBlock; return the shared context."""
    from snac.layers import DecoderBlock, NoiseBlock

    context = NoiseContext(
        seeds=torch.zeros(1, dtype=torch.int64), first_frames=torch.zeros(1, dtype=torch.int64)
    )
    # Latent steps per frame: the coarsest VQ stride (one layer-0 code per frame).
    steps = int(model.vq_strides[0])
    stage = 0
    for module in model.decoder.modules():
        if isinstance(module, PositionalNoiseBlock):
            return module.context  # already converted (several engines sharing one model)
    for module in list(model.decoder.modules()):
        if isinstance(module, DecoderBlock):
            stride = module.block[1].stride[0]
            steps *= int(stride)
            for index, layer in enumerate(module.block):
                if isinstance(layer, NoiseBlock):
                    module.block[index] = PositionalNoiseBlock(layer, stage, steps, context)
            stage += 1
    return context


def load_snac(source: str, device: str = "cpu") -> Any:
    """SNAC from a local directory (config.json + pytorch_model.bin) or a hub name.

    Raises SnacLoadError with an actionable message instead of a stack trace from deep inside."""
    from snac import SNAC

    path = Path(source).expanduser()
    try:
        if path.is_dir():
            missing = [n for n in ("config.json", "pytorch_model.bin") if not (path / n).is_file()]
            if missing:
                raise SnacLoadError(f"SNAC_MODEL_PATH={source} lacks {', '.join(missing)}")
            model = SNAC(**json.loads((path / "config.json").read_text()))
            state = torch.load(path / "pytorch_model.bin", map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        elif path.exists() or source.startswith((os.sep, ".", "~")):
            raise SnacLoadError(f"SNAC_MODEL_PATH={source} is not a directory")
        else:
            model = SNAC.from_pretrained(source)
    except SnacLoadError:
        raise
    except Exception as exc:  # hub unreachable, corrupt file, wrong config: say what to do
        raise SnacLoadError(
            f"cannot load SNAC from {source!r} ({type(exc).__name__}: {exc}). Set SNAC_MODEL_PATH to a "
            "directory with config.json and pytorch_model.bin (e.g. a copy of hubertsiuzdak/snac_24khz), "
            "or allow network access to the hub."
        ) from exc
    return model.eval().to(device)


def save_snac(model: nn.Module, directory: Path, config: dict[str, object]) -> None:
    """Write a model in the layout `load_snac` reads (used to stage weights for offline sites)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    torch.save(model.state_dict(), directory / "pytorch_model.bin")
