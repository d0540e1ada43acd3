"""Stateful streaming execution of SNAC's decoder: exact, and no sample is computed twice.

Every convolution keeps the last (kernel - 1) * dilation input samples of its stream between steps,
and every transposed convolution the last input step, so one step computes only the new outputs.
Each layer's input is zeroed outside [0, length) of the utterance, exactly where the whole decode
pads with zeros, and the noise is keyed by absolute position (snac.model), so the concatenated
steps equal `model.decode(codes)` up to float rounding. The price is latency: a sample is final only
once the decoder's right receptive field (`delay` samples, about 2.3 frames) has arrived.

States of several streams are stacked along the batch axis, so streams that advance by the same
number of frames are decoded in one call (cross-stream batching on a GPU).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..tokens import frames_to_codes
from .model import PositionalNoiseBlock, positional_normal

UNKNOWN_END = 2**62  # the utterance's length is unknown until its last frame


@dataclass
class StreamState:
    """One utterance's decoder state: the tail of every layer's input, and how far it has got."""

    seed: int
    buffers: list[torch.Tensor]
    latent_pos: int = 0  # latent steps consumed
    end: int = UNKNOWN_END  # latent length, set when the last frame is known
    emitted: int = 0  # output samples already handed out (earlier ones are never returned again)

    def fork(self) -> StreamState:
        """An independent copy: decoding it to the end gives a preview without touching this one."""
        return StreamState(self.seed, [b.clone() for b in self.buffers], self.latent_pos, self.end, self.emitted)


@dataclass
class _Batch:
    """What the layers of one step share: per-stream starts/ends and the stacked buffers."""

    seeds: torch.Tensor
    ends: list[int]  # latent length per stream
    buffers: list[torch.Tensor]
    device: torch.device

    def mask(self, x: torch.Tensor, starts: list[int], scale: int) -> torch.Tensor:
        """Zero every sample outside [0, end * scale): where the whole decode pads with zeros."""
        length = x.shape[-1]
        if all(s >= 0 and s + length <= e * scale for s, e in zip(starts, self.ends, strict=True)):
            return x
        positions = torch.tensor(starts, device=self.device).unsqueeze(1) + torch.arange(length, device=self.device)
        limits = torch.tensor([min(e * scale, UNKNOWN_END) for e in self.ends], device=self.device).unsqueeze(1)
        keep = (positions >= 0) & (positions < limits)
        return x * keep.unsqueeze(1).to(x.dtype)


class _Layer:
    def shift(self, start: int) -> int:
        """Absolute position of the output's first sample, given the input's."""
        return start

    def run(self, x: torch.Tensor, starts: list[int], batch: _Batch) -> torch.Tensor:
        raise NotImplementedError


@dataclass
class _Pointwise(_Layer):
    module: nn.Module

    def run(self, x: torch.Tensor, starts: list[int], batch: _Batch) -> torch.Tensor:
        return self.module(x)


@dataclass
class _Conv(_Layer):
    """A same-padded Conv1d (or a 1x1 one, which needs no state)."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    dilation: int
    groups: int
    pad: int
    scale: int  # input samples per latent step
    slot: int = -1

    def shift(self, start: int) -> int:
        return start - self.pad

    def run(self, x: torch.Tensor, starts: list[int], batch: _Batch) -> torch.Tensor:
        if self.pad:
            x = batch.mask(x, starts, self.scale)
            x = torch.cat([batch.buffers[self.slot], x], dim=-1)
            batch.buffers[self.slot] = x[..., x.shape[-1] - 2 * self.pad :]
        return F.conv1d(x, self.weight, self.bias, dilation=self.dilation, groups=self.groups)


@dataclass
class _UpConv(_Layer):
    """ConvTranspose1d with kernel 2*stride: an output depends on two consecutive input steps."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    stride: int
    pad: int
    groups: int
    scale: int
    slot: int = -1

    def shift(self, start: int) -> int:
        return start * self.stride - self.pad

    def run(self, x: torch.Tensor, starts: list[int], batch: _Batch) -> torch.Tensor:
        steps = x.shape[-1]
        x = torch.cat([batch.buffers[self.slot], batch.mask(x, starts, self.scale)], dim=-1)
        batch.buffers[self.slot] = x[..., -1:]
        full = F.conv_transpose1d(x, self.weight, self.bias, stride=self.stride, groups=self.groups)
        # Outputs of the kept step that the previous step still lacked, through the newest step.
        return full[..., self.stride : (steps + 1) * self.stride]


@dataclass
class _Noise(_Layer):
    weight: torch.Tensor
    stage: int

    def run(self, x: torch.Tensor, starts: list[int], batch: _Batch) -> torch.Tensor:
        positions = torch.tensor(starts, device=batch.device).unsqueeze(1) + torch.arange(
            x.shape[-1], device=batch.device
        )
        noise = positional_normal(batch.seeds, self.stage, positions).to(x.dtype).unsqueeze(1)
        return x + noise * F.conv1d(x, self.weight)


@dataclass
class _Residual(_Layer):
    """x + block(x): x is delayed by the block's padding so both sides line up."""

    layers: list[_Layer]
    slot: int = -1
    delay: int = 0

    def shift(self, start: int) -> int:
        return start - self.delay

    def run(self, x: torch.Tensor, starts: list[int], batch: _Batch) -> torch.Tensor:
        y = _run(self.layers, x, starts, batch)
        held = torch.cat([batch.buffers[self.slot], x], dim=-1)
        batch.buffers[self.slot] = held[..., held.shape[-1] - self.delay :]
        return held[..., : x.shape[-1]] + y


def _run(layers: list[_Layer], x: torch.Tensor, starts: list[int], batch: _Batch) -> torch.Tensor:
    for layer in layers:
        x = layer.run(x, starts, batch)
        starts = [layer.shift(s) for s in starts]
    return x


def _weight(module: nn.Conv1d | nn.ConvTranspose1d) -> torch.Tensor:
    return module.weight.detach()  # weight-norm parametrisations compute it here, once


def _bias(module: nn.Conv1d | nn.ConvTranspose1d) -> torch.Tensor | None:
    return None if module.bias is None else module.bias.detach()


class SnacStreamer:
    """Compiles a loaded SNAC model's decoder into streaming layers (weights shared, not copied)."""

    def __init__(self, model: Any) -> None:
        from snac.layers import DecoderBlock, ResidualUnit, Snake1d

        self.model = model
        self.device = next(model.parameters()).device
        self.latents_per_frame = int(model.vq_strides[0])
        self.samples_per_latent = int(np.prod(model.decoder_rates))
        self.samples_per_frame = self.latents_per_frame * self.samples_per_latent
        self._shapes: list[tuple[int, int]] = []  # (channels, length) of every buffer

        def add_buffer(channels: int, length: int) -> int:
            self._shapes.append((channels, length))
            return len(self._shapes) - 1

        def compile_layers(modules: list[nn.Module], scale: int) -> tuple[list[_Layer], int]:
            layers: list[_Layer] = []
            for module in modules:
                if isinstance(module, nn.ConvTranspose1d):
                    stride = int(module.stride[0])
                    if int(module.kernel_size[0]) != 2 * stride or int(module.output_padding[0]) != 0:
                        raise ValueError("streaming decode expects kernel 2*stride and even strides")
                    slot = add_buffer(module.in_channels, 1)
                    padding = int(module.padding[0])
                    layers.append(_UpConv(_weight(module), _bias(module), stride, padding, module.groups, scale, slot))
                    scale *= stride
                elif isinstance(module, nn.Conv1d):
                    pad, dilation = int(module.padding[0]), int(module.dilation[0])
                    if int(module.stride[0]) != 1 or 2 * pad != (int(module.kernel_size[0]) - 1) * dilation:
                        raise ValueError("streaming decode expects same-padded, stride-1 convolutions")
                    slot = add_buffer(module.in_channels, 2 * pad) if pad else -1
                    layers.append(_Conv(_weight(module), _bias(module), dilation, module.groups, pad, scale, slot))
                elif isinstance(module, PositionalNoiseBlock):
                    layers.append(_Noise(_weight(module.linear), module.stage))
                elif isinstance(module, ResidualUnit):
                    inner, _ = compile_layers(list(module.block), scale)
                    delay = -_shift_all(inner, 0)
                    slot = add_buffer(module.block[1].in_channels, delay)
                    layers.append(_Residual(inner, slot, delay))
                elif isinstance(module, DecoderBlock):
                    inner, scale = compile_layers(list(module.block), scale)
                    layers.extend(inner)
                elif isinstance(module, (nn.Tanh, Snake1d)):
                    layers.append(_Pointwise(module))
                else:
                    raise ValueError(
                        f"streaming decode does not support {type(module).__name__} (SNAC with attention?)"
                    )
            return layers, scale

        self._latent_channels = int(model.decoder.model[0].in_channels)
        self._layers, _ = compile_layers(list(model.decoder.model), 1)
        self.delay = -_shift_all(self._layers, 0)  # output lags the latent input by this many samples
        self.flush_latents = math.ceil(self.delay / self.samples_per_latent)

    def new_state(self, seed: int) -> StreamState:
        buffers = [torch.zeros(1, c, n, device=self.device) for c, n in self._shapes]
        return StreamState(seed=seed, buffers=buffers)

    def frames_for_first_audio(self) -> int:
        """Frames that must have arrived before the first sample is final."""
        return self.delay // self.samples_per_frame + 1

    def step(self, states: list[StreamState], frames: np.ndarray, *, finish: bool = False) -> list[np.ndarray]:
        """Advance each stream by its frames (B, n, 7), n >= 0 the same for all; returns the samples
        that became final for each stream. finish: these are the last frames; flush everything."""
        batch_size, count = frames.shape[0], frames.shape[1]
        latents = self._latents(frames) if count else None
        if finish:
            for state in states:
                state.end = state.latent_pos + count * self.latents_per_frame
            pad = torch.zeros(batch_size, self._latent_channels, self.flush_latents, device=self.device)
            latents = pad if latents is None else torch.cat([latents, pad], dim=-1)
        if latents is None:
            return [np.zeros(0, dtype=np.float32) for _ in states]
        batch = _Batch(
            seeds=torch.tensor([s.seed for s in states], dtype=torch.int64, device=self.device),
            ends=[s.end for s in states],
            buffers=[torch.cat(parts, dim=0) for parts in zip(*(s.buffers for s in states), strict=True)],
            device=self.device,
        )
        starts = [s.latent_pos for s in states]
        with torch.inference_mode():
            audio = _run(self._layers, latents, starts, batch)[:, 0, :].float().cpu().numpy()
        results = []
        for index, state in enumerate(states):
            state.buffers = [b[index : index + 1].contiguous() for b in batch.buffers]
            begin = state.latent_pos * self.samples_per_latent - self.delay  # sample of audio[index, 0]
            state.latent_pos += latents.shape[-1]
            last = begin + audio.shape[-1]
            if state.end != UNKNOWN_END:
                last = min(last, state.end * self.samples_per_latent)
            first = max(state.emitted, begin)
            last = max(first, last)
            results.append(audio[index, first - begin : last - begin].copy())
            state.emitted = last
        return results

    def _latents(self, frames: np.ndarray) -> torch.Tensor:
        layers = [np.stack(parts) for parts in zip(*(frames_to_codes(f) for f in frames), strict=True)]
        codes = [torch.from_numpy(layer).to(self.device) for layer in layers]
        with torch.inference_mode():
            return self.model.quantizer.from_codes(codes)


def _shift_all(layers: list[_Layer], start: int) -> int:
    for layer in layers:
        start = layer.shift(start)
    return start

