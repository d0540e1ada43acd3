"""One SNAC model per process, shared by every stream, with a cross-stream batching scheduler.

Decode steps from all streams go into one queue. A single worker takes everything queued when it
becomes free, groups steps that advance by the same number of frames (their states stack along the
batch axis, see snac.stream) and decodes each group in ONE call: on a GPU, concurrent streams cost
about one decode, not N. Decoding runs in one worker thread so the event loop keeps reading token
streams meanwhile.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from common.aio import cancel_and_wait

from ..tokens import codes_to_frames, frames_to_codes
from .model import NoiseContext, load_snac, make_noise_positional
from .stream import SnacStreamer, StreamState

log = logging.getLogger(__name__)


@dataclass
class DecodeJob:
    state: StreamState
    frames: np.ndarray  # (n, 7) new code frames of this stream
    finish: bool  # the utterance ends with these frames
    future: asyncio.Future[np.ndarray] = field(repr=False)

    @property
    def group(self) -> tuple[int, bool]:
        return len(self.frames), self.finish


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class SnacEngine:
    def __init__(
        self,
        model: Any,
        *,
        device: str = "cpu",
        batching: bool | None = None,
        max_batch: int = 32,
        cpu_threads: int = 1,
    ) -> None:
        self.model = model
        self.device = device
        self.cpu_threads = cpu_threads  # torch threads for decoding on CPU
        if device.startswith("cuda"):
            # cuDNN convolutions default to TF32 (~1e-3 relative error) on Ampere and later: the
            # streamed and whole decodes would then differ by rounding alone. SNAC is small; this
            # process runs no other CUDA work, so full fp32 costs little.
            torch.backends.cudnn.allow_tf32 = False
        self.context: NoiseContext = make_noise_positional(model)
        self.streamer = SnacStreamer(model)  # after the noise blocks are keyed by position
        self.samples_per_frame = self.streamer.samples_per_frame
        self.sample_rate = int(model.sampling_rate)
        # Batching pays off where one call is parallel hardware (GPU); on CPU one call per job.
        self.batching = device.startswith("cuda") if batching is None else batching
        self.max_batch = max_batch
        self.largest_batch = 0  # streams decoded in one call, at most (benchmarks and tests)
        self._queue: asyncio.Queue[DecodeJob] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._thread: ThreadPoolExecutor | None = None  # made on first use, so close() is not final

    @classmethod
    def load(
        cls, source: str, *, device: str = "auto", batching: bool | None = None, cpu_threads: int = 1
    ) -> SnacEngine:
        resolved = resolve_device(device)
        return cls(load_snac(source, resolved), device=resolved, batching=batching, cpu_threads=cpu_threads)

    # --- synchronous whole decodes (the reference in tests and benchmarks) ----------------------
    def decode_batch(
        self, windows: list[np.ndarray], first_frames: list[int], seeds: list[int]
    ) -> np.ndarray:
        """Decode equal-length windows in one call -> (B, W * samples_per_frame) float32."""
        stacked = np.stack(windows)
        layers = [np.stack(parts) for parts in zip(*(frames_to_codes(w) for w in stacked), strict=True)]
        codes = [torch.from_numpy(layer).to(self.device) for layer in layers]
        self.context.seeds = torch.tensor(seeds, dtype=torch.int64, device=self.device)
        self.context.first_frames = torch.tensor(first_frames, dtype=torch.int64, device=self.device)
        with torch.inference_mode():
            audio = self.model.decode(codes)
        return audio[:, 0, :].float().cpu().numpy()

    def decode_whole(self, frames: np.ndarray, seed: int) -> np.ndarray:
        """The reference: every frame of an utterance in one call."""
        return self.decode_batch([frames], [0], [seed])[0]

    def frames_for(self, samples: int) -> int:
        """How many frames `encode` makes of `samples` (SNAC pads up to whole frames)."""
        return -(-samples // self.samples_per_frame)

    def encode(self, audio: np.ndarray) -> np.ndarray:
        """Mono float32 samples at `sample_rate` -> (F, 7) frames, as the Svara model emits them.
        Blocking (seconds for long audio on CPU): call it from a worker thread."""
        samples = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None, None].to(self.device)
        with torch.inference_mode():
            codes = self.model.encode(samples)
        layers = [layer[0].cpu().numpy().astype(np.int64) for layer in codes]
        return codes_to_frames(*layers)

    # --- asynchronous, batched streaming -------------------------------------------------------
    def new_stream(self, seed: int) -> StreamState:
        return self.streamer.new_state(seed)

    async def step(self, state: StreamState, frames: np.ndarray, *, finish: bool = False) -> np.ndarray:
        """Advance one stream by `frames` (n, 7); returns the samples that became final."""
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done() or self._worker.get_loop() is not loop:
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._run(), name="snac-decoder")
        assert self._queue is not None
        job = DecodeJob(state, frames, finish, loop.create_future())
        await self._queue.put(job)
        return await job.future

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self._queue.get()]
            while self.batching and not self._queue.empty():
                jobs.append(self._queue.get_nowait())
            jobs = [job for job in jobs if not job.future.done()]  # consumers that left
            groups: dict[tuple[int, bool], list[DecodeJob]] = defaultdict(list)
            for job in jobs:
                groups[job.group].append(job)
            for group in groups.values():
                for start in range(0, len(group), self.max_batch if self.batching else 1):
                    batch = group[start : start + (self.max_batch if self.batching else 1)]
                    await self._decode_group(loop, batch)

    async def _decode_group(self, loop: asyncio.AbstractEventLoop, batch: list[DecodeJob]) -> None:
        self.largest_batch = max(self.largest_batch, len(batch))
        if self._thread is None:
            self._thread = ThreadPoolExecutor(
                max_workers=1,
                thread_name_prefix="snac",
                # Before the thread's first torch op, when its OpenMP team is sized. torch's count
                # is process-wide; the gateway uses torch for SNAC alone.
                initializer=self._size_decode_thread,
            )
        try:
            audio = await loop.run_in_executor(
                self._thread,
                functools.partial(
                    self.streamer.step,
                    [j.state for j in batch],
                    np.stack([j.frames for j in batch]),
                    finish=batch[0].finish,
                ),
            )
        except Exception as exc:  # a failed decode fails its streams, not the worker
            log.exception("SNAC decode failed", extra={"fields": {"batch": len(batch)}})
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        for row, job in zip(audio, batch, strict=True):
            if not job.future.done():
                job.future.set_result(row)

    def _size_decode_thread(self) -> None:
        if not self.device.startswith("cuda"):
            torch.set_num_threads(self.cpu_threads)

    async def close(self) -> None:
        await cancel_and_wait([self._worker])
        if self._thread is not None:
            self._thread.shutdown(wait=False, cancel_futures=True)
            self._thread = None
