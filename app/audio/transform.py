"""Speed and sample-rate changes in one PyAV filter graph.

`atempo` changes tempo without changing pitch (WSOLA); `aresample` is FFmpeg's swresample
(windowed-sinc, anti-aliased), a proper resampler rather than sample dropping. Both keep state
across chunks, so streaming through the graph sounds the same as processing the whole clip.
"""

from __future__ import annotations

from fractions import Fraction

import av
import av.filter
import numpy as np


class AudioTransform:
    """float32 mono at `in_rate` -> float32 mono at `out_rate`, `speed` times faster."""

    def __init__(self, in_rate: int, out_rate: int, speed: float = 1.0) -> None:
        self.in_rate, self.out_rate, self.speed = in_rate, out_rate, speed
        self.identity = in_rate == out_rate and speed == 1.0
        self._pts = 0
        if self.identity:
            return
        graph = av.filter.Graph()
        node = graph.add_abuffer(
            format="flt", sample_rate=in_rate, layout="mono", time_base=Fraction(1, in_rate)
        )
        first = node
        if speed != 1.0:
            node = self._link(node, graph.add("atempo", f"{speed:.6f}"))
        if in_rate != out_rate:
            node = self._link(node, graph.add("aresample", str(out_rate)))
        node = self._link(
            node, graph.add("aformat", f"sample_fmts=flt:channel_layouts=mono:sample_rates={out_rate}")
        )
        self._link(node, graph.add("abuffersink"))
        graph.configure()
        self._graph, self._source = graph, first

    @staticmethod
    def _link(a: av.filter.FilterContext, b: av.filter.FilterContext) -> av.filter.FilterContext:
        a.link_to(b)
        return b

    def _pull(self) -> np.ndarray:
        out: list[np.ndarray] = []
        while True:
            try:
                frame = self._graph.pull()
            except (BlockingIOError, EOFError, av.error.EOFError):
                break
            out.append(frame.to_ndarray().reshape(-1).astype(np.float32, copy=False))
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def process(self, samples: np.ndarray) -> np.ndarray:
        if self.identity or samples.size == 0:
            return samples.astype(np.float32, copy=False)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.float32).reshape(1, -1), format="flt", layout="mono"
        )
        frame.sample_rate = self.in_rate
        frame.time_base = Fraction(1, self.in_rate)
        frame.pts = self._pts
        self._pts += samples.size
        self._graph.push(frame)
        return self._pull()

    def flush(self) -> np.ndarray:
        """The samples the filters still hold (call once, at the end)."""
        if self.identity:
            return np.zeros(0, dtype=np.float32)
        self._graph.push(None)
        return self._pull()
