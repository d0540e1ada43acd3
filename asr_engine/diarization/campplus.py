"""CAM++ (Wang et al., Interspeech 2023) in torch, only to load the released weights and export ONNX.

Imports torch: only `export.py` uses this module, at install time. The worker runs the ONNX file.

The layout follows the released checkpoint (its state-dict names are the contract):
- `head`: a 2-D front end over the 80 fbank bins: a 3x3 conv, two stages of two residual blocks
  (the first of each halves the frequency axis), a last 3x3 conv halving it again; 32 channels x 10
  bins are then flattened into 320 channels over time.
- `xvector`: a TDNN layer (kernel 5, stride 2) to 128 channels; three densely connected blocks of
  12, 24 and 16 layers (growth 32, dilation 1, 2, 2), each layer a bottleneck (to 128) followed by
  a context-aware mask: a 3-tap conv whose output is gated by a sigmoid of the utterance mean plus
  the mean of the 100-frame segment it falls in; a transition halving the channels after each
  block; mean and standard deviation over time; a 1x1 conv to 192 with a batch norm (no affine).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_BINS = 80
EMBEDDING_SIZE = 192
SEGMENT_FRAMES = 100  # the context mask's local window


def _norm(channels: int, affine: bool = True) -> nn.ModuleDict:
    # The checkpoint names every 1-D batch norm `<stage>.batchnorm`; ReLU has no weights.
    return nn.ModuleDict({"batchnorm": nn.BatchNorm1d(channels, affine=affine)})


def _bn_relu(norm: nn.ModuleDict, x: torch.Tensor) -> torch.Tensor:
    return F.relu(norm["batchnorm"](x))


class _ResBlock(nn.Module):
    def __init__(self, channels: int, freq_stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, stride=(freq_stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = nn.Sequential()
        if freq_stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv2d(channels, channels, 1, stride=(freq_stride, 1), bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + self.shortcut(x))


class _Head(nn.Module):
    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.layer1 = nn.Sequential(_ResBlock(channels, 2), _ResBlock(channels, 1))
        self.layer2 = nn.Sequential(_ResBlock(channels, 2), _ResBlock(channels, 1))
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.out_channels = channels * (FEATURE_BINS // 8)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:  # (B, bins, T)
        x = F.relu(self.bn1(self.conv1(feats.unsqueeze(1))))
        x = F.relu(self.bn2(self.conv2(self.layer2(self.layer1(x)))))
        return x.flatten(1, 2)  # (B, channels * bins / 8, T)


class _Tdnn(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(cin, cout, 5, stride=2, padding=2, bias=False)
        self.nonlinear = _norm(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _bn_relu(self.nonlinear, self.linear(x))


def _segment_means(x: torch.Tensor) -> torch.Tensor:
    """Each frame gets the mean of its 100-frame segment (the last segment may be shorter)."""
    pooled = F.avg_pool1d(x, kernel_size=SEGMENT_FRAMES, stride=SEGMENT_FRAMES, ceil_mode=True)
    return pooled.repeat_interleave(SEGMENT_FRAMES, dim=-1)[..., : x.shape[-1]]


class _CamMask(nn.Module):
    def __init__(self, channels: int, out: int, dilation: int) -> None:
        super().__init__()
        self.linear_local = nn.Conv1d(channels, out, 3, padding=dilation, dilation=dilation, bias=False)
        self.linear1 = nn.Conv1d(channels, channels // 2, 1)
        self.linear2 = nn.Conv1d(channels // 2, out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        context = x.mean(-1, keepdim=True) + _segment_means(x)
        gate = torch.sigmoid(self.linear2(F.relu(self.linear1(context))))
        return self.linear_local(x) * gate


class _DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int, bottleneck: int, dilation: int) -> None:
        super().__init__()
        self.nonlinear1 = _norm(cin)
        self.linear1 = nn.Conv1d(cin, bottleneck, 1, bias=False)
        self.nonlinear2 = _norm(bottleneck)
        self.cam_layer = _CamMask(bottleneck, growth, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = _bn_relu(self.nonlinear2, self.linear1(_bn_relu(self.nonlinear1, x)))
        return torch.cat([x, self.cam_layer(h)], dim=1)


class _Transit(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.nonlinear = _norm(cin)
        self.linear = nn.Conv1d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(_bn_relu(self.nonlinear, x))


class _StatsPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C, T) -> (B, 2C): mean and unbiased standard deviation over time. Axes are positive:
        # the TorchScript exporter resolves negative ones against a wrong rank here.
        return torch.cat([x.mean(2), x.std(2, unbiased=True)], dim=1)


class _Embedding(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(cin, cout, 1, bias=False)
        self.nonlinear = _norm(cout, affine=False)

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        return self.nonlinear["batchnorm"](self.linear(stats.unsqueeze(-1)).squeeze(-1))


class _OutNorm(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.batchnorm = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.batchnorm(x))


class CamPlusPlus(nn.Module):
    """fbank features (B, T, 80), mean-normalised per window -> speaker embeddings (B, 192)."""

    def __init__(self) -> None:
        super().__init__()
        self.head = _Head()
        stages: list[tuple[str, nn.Module]] = [("tdnn", _Tdnn(self.head.out_channels, 128))]
        channels = 128
        for index, (layers, dilation) in enumerate([(12, 1), (24, 2), (16, 2)], start=1):
            block = nn.Sequential()
            for layer in range(layers):
                block.add_module(f"tdnnd{layer + 1}", _DenseLayer(channels + layer * 32, 32, 128, dilation))
            stages.append((f"block{index}", block))
            channels += layers * 32
            stages.append((f"transit{index}", _Transit(channels, channels // 2)))
            channels //= 2
        stages += [("out_nonlinear", _OutNorm(channels)), ("stats", _StatsPool())]
        stages.append(("dense", _Embedding(channels * 2, EMBEDDING_SIZE)))
        self.xvector = nn.Sequential()
        for name, stage in stages:
            self.xvector.add_module(name, stage)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.xvector(self.head(feats.transpose(1, 2)))
